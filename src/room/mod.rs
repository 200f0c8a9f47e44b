//! The room: one task that owns the `World` and runs the fixed-rate tick loop. Many rooms run side by side as
//! tasks of the lobby's room pool; a room knows nothing of the others, of the lobby, or of sockets.
//!
//! Connections reach the room only through its command queue; the room reaches them only through each client's
//! bounded outbox, with `try_send`, so the tick never waits on a socket. A tick runs, always in this order: drain
//! commands, apply one input per player, step the simulation, capture the snapshot, and for each client encode a
//! delta against its acknowledged baseline and hand it to its writer.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use glam::Vec2;
use slab::Slab;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::codec;
use crate::config::{RoomConfig, HISTORY_TICKS};
use crate::link::{ClientLink, CloseReason, Outgoing};
use crate::metrics::Histogram;
use crate::protocol::{Hit, Input, MapInfo, Role, RoomInfo, RulesInfo, ServerMessage, Welcome, PROTOCOL_VERSION};
use crate::recording::{Journal, WireInput};
use crate::sim::{PlayerId, Rules, World};
use crate::snapshot::{DeltaWriter, EventLog, SnapshotHistory, WorldSnapshot};

mod driver;
mod playback;
mod replication;
mod seats;
#[cfg(test)]
mod tests;

pub use driver::run;
use replication::{Interest, SeenHistory};
pub use seats::{ResumeRefused, ResumeSecret, Resumed};

/// Inputs queued beyond this many are stale: the oldest are skipped so a client that sent a burst catches up.
const MAX_INPUT_BACKLOG: usize = 2;
/// Ticks a second queued input may wait before the room catches up on it: a client whose timer fired late sends two
/// inputs in one tick, and without this the extra one stayed queued for good, every input then applied a tick late.
/// Long enough that arrival jitter around a tick boundary (two inputs in one tick, none in the next) drains by
/// itself, which costs no correction; short enough that a lasting backlog is gone within half a second at 30 Hz.
const BACKLOG_PATIENCE_TICKS: u8 = 15;
/// Room for a snapshot head: an array header, the tag and three integers of at most five bytes.
const SNAPSHOT_HEAD_BYTES: usize = 24;
/// Inputs held per client between ticks; more than this and the oldest are dropped.
const MAX_QUEUED_INPUTS: usize = 8;

/// Identifies a client of the room; the generation keeps a reused slot from being mistaken for its previous owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientKey {
    slot: usize,
    generation: u64,
    /// The wire id of the client's player (0: a spectator), for logs and spans.
    player: u32,
}

impl ClientKey {
    /// The wire id of the client's player, 0 for a spectator.
    pub fn player_id(&self) -> u32 {
        self.player
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    #[error("room {room} is full ({limit} players)")]
    Full { room: String, limit: usize },
    #[error("room {room} has no spectator slot ({limit} spectators)")]
    NoSpectatorSlot { room: String, limit: usize },
    /// The room closed (it had been empty for its grace period) while the join was on its way.
    #[error("room {0} has closed")]
    Closed(String),
    #[error("server shutting down")]
    ShuttingDown,
}

/// What connections ask of the room.
#[derive(Debug)]
pub enum RoomCommand {
    Join {
        name: String,
        role: Role,
        link: ClientLink,
        /// A player's way back to its seat after its socket drops (see `seats`).
        resume: Option<ResumeSecret>,
        reply: oneshot::Sender<Result<ClientKey, JoinRefused>>,
    },
    /// Take back the seat `secret` names, handing it `next_secret` for the resume after this one.
    Resume {
        secret: ResumeSecret,
        next_secret: ResumeSecret,
        last_tick: u32,
        link: ClientLink,
        reply: oneshot::Sender<Result<Resumed, ResumeRefused>>,
    },
    Input {
        client: ClientKey,
        input: Input,
    },
    Ack {
        client: ClientKey,
        tick: u32,
    },
    /// A spectator's view: follow a player (0: none) or look at `at` (world units).
    View {
        client: ClientKey,
        follow: u32,
        at: Vec2,
    },
    Leave {
        client: ClientKey,
    },
    /// The client's socket is gone but it did not leave: a player's seat is held for the resume grace.
    Detach {
        client: ClientKey,
    },
    /// One chat line, already checked by the connection.
    Chat {
        client: ClientKey,
        text: String,
    },
}

/// Why `run` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomEnd {
    /// Nobody was in the room for its grace period.
    Empty,
    /// The server is shutting down.
    Shutdown,
}

/// Counters the room publishes for /healthz, /metrics, logs and tests.
#[derive(Debug, Default)]
pub struct RoomStats {
    pub tick: AtomicU32,
    pub players: AtomicU32,
    pub spectators: AtomicU32,
    pub overruns: AtomicU64,
    /// Time slots that got no tick because a tick overran them (the schedule skips them rather than bursting).
    pub slots_skipped: AtomicU64,
    /// Ticks where a moving player had no new input and its last one was applied again.
    pub inputs_repeated: AtomicU64,
    /// Inputs dropped unapplied because a backlog had built up (the oldest go first).
    pub inputs_skipped: AtomicU64,
    /// Inputs folded into the next one to drain a backlog of two (after a tick that had none, or after it lasted
    /// `BACKLOG_PATIENCE_TICKS`); their fire button carries over.
    pub inputs_merged: AtomicU64,
    /// Applied inputs by the ticks they waited in the queue: 0, 1, 2, 3 or more (a tick's inputs are taken at its
    /// start, so 0 means applied at the first tick after arriving).
    pub input_wait_ticks: [AtomicU64; 4],
    /// Inputs dropped on arrival because the client already had `MAX_QUEUED_INPUTS` waiting (the oldest goes).
    pub inputs_queue_full: AtomicU64,
    pub frames_sent: AtomicU64,
    /// Snapshots queued, by kind: full (no usable baseline) and delta. Together they are the snapshot frames sent.
    pub snapshots_full: AtomicU64,
    pub snapshots_delta: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub slow_clients_closed: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Seats held right now (their socket gone, their grace running).
    pub held_seats: AtomicU32,
    /// Seats whose socket dropped and were held for a resume.
    pub detached: AtomicU64,
    /// Seats taken back over a new socket.
    pub resumes: AtomicU64,
    /// Resumes refused for an unknown, spent or expired secret.
    pub resumes_refused: AtomicU64,
    /// Held seats whose grace ran out (the player left).
    pub resumes_expired: AtomicU64,
    /// Chat lines the room passed on.
    pub chat_lines: AtomicU64,
    pub last_tick_micros: AtomicU64,
    pub max_tick_micros: AtomicU64,
    /// Every tick's duration, measured inside the room (inputs, step, snapshots, sends).
    pub tick_micros: Mutex<Histogram>,
}

/// Test hook: the server's own snapshots of recent ticks, to compare with what clients rebuilt.
pub type SnapshotTap = Arc<Mutex<VecDeque<Arc<WorldSnapshot>>>>;

/// What a client is in the room.
#[derive(Debug)]
enum Part {
    Player(PlayerId),
    /// Watches: no entity of its own; its view centres on the followed player, else on its camera.
    Spectator {
        follow: u32,
        camera: Vec2,
    },
}

struct Client {
    generation: u64,
    part: Part,
    name: Arc<str>,
    /// `None` while a player's socket is gone and its seat is held.
    link: Option<ClientLink>,
    /// The secret that takes this seat back (players, when resuming is on).
    resume: Option<ResumeSecret>,
    /// While detached: the tick its grace runs out.
    detached_until: Option<u32>,
    /// Highest input seq received (queued or applied), carried across resumes.
    received_seq: u32,
    /// Queued inputs with the tick they arrived at.
    inputs: VecDeque<(Input, u32)>,
    /// Ticks the world repeated this player's last input for want of a new one, not yet made up (at most 2).
    owed_repeats: u8,
    /// Consecutive ticks that began with two inputs queued.
    backlog_ticks: u8,
    /// Newest tick this client acknowledged (0: none).
    acked_tick: u32,
    /// Bit `i`: tick `acked_tick - i` was acknowledged (bit 0 whenever `acked_tick` is not 0): the ticks a delta may
    /// be encoded against (see `replication::baseline_for`).
    acked_recent: u64,
    /// The baseline of the newest frame queued for this client (0: a full one): the client drops the states older
    /// than a delta's baseline once it applies it, so no later frame may use an older one.
    last_baseline: u32,
    /// Tick of the newest frame queued for this client.
    last_sent_tick: u32,
    /// The room's tick when this client joined or resumed: it can acknowledge no older tick of this connection.
    attached_tick: u32,
    /// Consecutive ticks this client's outbox was full.
    full_ticks: u32,
    /// Its recent views (interest management only).
    views: SeenHistory,
    last_applied_seq: u32,
    /// Whether the input in force moves the player (a repeat of it then changes where the player ends up).
    moving: bool,
    /// A spectator waiting for its next roster (one right after joining, then one a second).
    roster_due: bool,
    /// Its player's bullets that hit someone, oldest first, kept as long as the event log keeps events.
    hits: VecDeque<Hit>,
}

/// The room's state; `run` drives it in real time, `tick` advances it by exactly one step (tests, benchmarks).
pub struct Room {
    world: World,
    clients: Slab<Client>,
    next_generation: u64,
    history: SnapshotHistory,
    events: EventLog,
    id: String,
    name: String,
    max_players: usize,
    max_spectators: usize,
    players: usize,
    spectators: usize,
    tick_rate: u32,
    /// Ticks without players or spectators after which `run` closes the room.
    empty_grace_ticks: u32,
    /// Consecutive ticks the room has been empty.
    empty_ticks: u32,
    /// A client whose outbox stays full this many ticks is not reading and is closed.
    slow_client_ticks: u32,
    stats: Arc<RoomStats>,
    tap: Option<(SnapshotTap, usize)>,
    /// Encoded snapshot bodies of the current tick, by baseline tick (0 = full): clients sharing a baseline share it.
    bodies: Vec<(u32, Bytes)>,
    /// Where a body (with interest management or without) is encoded before it is copied out at its exact size: a
    /// body lives on in outboxes, and a buffer grown for the largest body (a full snapshot) would be held that large
    /// by every queued frame.
    body_scratch: Vec<u8>,
    /// Encodes the bodies of this tick (its `created` entries once each).
    delta_writer: DeltaWriter,
    /// Set when each client sees only a radius around its player.
    interest: Option<Interest>,
    /// Held seats by their resume secret.
    seats: HashMap<ResumeSecret, usize>,
    /// The client key of each world player slot (`usize::MAX`: none), to hand a hit to its shooter.
    shooters: Vec<usize>,
    /// Clients whose socket is gone (their seat held).
    detached: usize,
    /// How long a dropped player's seat is held; 0 turns resuming off.
    resume_grace_ticks: u32,
    resume_grace_ms: u32,
    /// Test hooks (`RoomConfig::panic_at_tick`, `min_tick_time`): the real-time driver panics after this tick; every
    /// tick lasts at least this long.
    panic_at_tick: Option<u32>,
    min_tick_time: Duration,
    /// Every call into `world` goes through it: it records them when the room is recorded (`--record`).
    journal: Journal,
    /// Set in a room that plays a recording back (`--replay`): the recording, not players, drives the world.
    playback: Option<crate::recording::Playback>,
}

impl Room {
    pub fn new(config: &RoomConfig, stats: Arc<RoomStats>, tap: Option<SnapshotTap>) -> Room {
        let rules = Rules {
            max_rewind_ticks: crate::sim::rewind_ticks(config.max_rewind_ms, config.tick_rate),
            ..Rules::for_tick_rate(config.tick_rate)
        };
        let ticks_of = |time: Duration| (time.as_secs_f64() * f64::from(config.tick_rate)).ceil() as u32;
        Room {
            world: World::new(config.map.clone(), rules, config.seed),
            clients: Slab::new(),
            next_generation: 1,
            history: SnapshotHistory::new(HISTORY_TICKS),
            events: EventLog::default(),
            id: config.id.clone(),
            name: config.name.clone(),
            max_players: config.max_players,
            max_spectators: config.max_spectators,
            players: 0,
            spectators: 0,
            tick_rate: config.tick_rate,
            empty_grace_ticks: ticks_of(config.empty_grace).max(1),
            empty_ticks: 0,
            slow_client_ticks: ticks_of(config.slow_client_timeout),
            stats,
            tap: tap.map(|tap| (tap, config.record_snapshots.max(1))),
            bodies: Vec::new(),
            interest: (config.view_radius > 0.0)
                .then(|| Interest::new(config.map.width, config.map.height, config.view_radius)),
            body_scratch: Vec::new(),
            delta_writer: DeltaWriter::default(),
            seats: HashMap::new(),
            shooters: Vec::new(),
            detached: 0,
            resume_grace_ticks: if config.resume_grace.is_zero() { 0 } else { ticks_of(config.resume_grace).max(1) },
            resume_grace_ms: config.resume_grace.as_millis().min(u128::from(u32::MAX)) as u32,
            panic_at_tick: config.panic_at_tick,
            min_tick_time: config.min_tick_time,
            journal: Journal::off(),
            playback: None,
        }
    }

    /// Records the room into `journal` from now on; called before the first tick, so the recording starts from the
    /// world its header describes.
    pub fn record(&mut self, journal: Journal) {
        self.journal = journal;
    }

    /// The room's journal (its recording's file and size, when recorded).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Applies one command from a connection.
    pub fn handle(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join { name, role, link, resume, reply } => {
                let result = self.join(name, role, link, resume);
                // The connection may have gone away while waiting; then the slot is freed right here.
                if let Err(Ok(key)) = reply.send(result) {
                    self.leave(key);
                }
            }
            RoomCommand::Resume { secret, next_secret, last_tick, link, reply } => {
                let result = self.resume(&secret, next_secret, last_tick, link);
                // A connection that went away meanwhile leaves the seat held, as its drop would have.
                if let Err(Ok(resumed)) = reply.send(result) {
                    self.detach(resumed.key);
                }
            }
            RoomCommand::Input { client, input } => {
                let mut overflowed = false;
                let tick = self.world.tick();
                if let Some(c) = self.client_mut(client) {
                    if c.inputs.len() == MAX_QUEUED_INPUTS {
                        c.inputs.pop_front();
                        overflowed = true;
                    }
                    c.received_seq = c.received_seq.max(input.seq);
                    c.inputs.push_back((input, tick));
                    Self::acknowledge(c, input.ack_tick);
                }
                if overflowed {
                    self.stats.inputs_queue_full.fetch_add(1, Ordering::Relaxed);
                }
            }
            RoomCommand::Ack { client, tick } => {
                if let Some(c) = self.client_mut(client) {
                    Self::acknowledge(c, tick);
                }
            }
            RoomCommand::View { client, follow, at } => {
                if let Some(Client { part: Part::Spectator { follow: following, camera }, .. }) =
                    self.client_mut(client)
                {
                    *following = follow;
                    *camera = at;
                }
            }
            RoomCommand::Leave { client } => self.leave(client),
            RoomCommand::Detach { client } => self.detach(client),
            RoomCommand::Chat { client, text } => self.chat(client, text),
        }
    }

    /// Players and spectators in the room.
    pub fn occupancy(&self) -> (usize, usize) {
        (self.players, self.spectators)
    }

    fn client_mut(&mut self, key: ClientKey) -> Option<&mut Client> {
        self.clients.get_mut(key.slot).filter(|c| c.generation == key.generation)
    }

    /// Acknowledgements only move forward and only name ticks this client was actually sent.
    fn acknowledge(client: &mut Client, tick: u32) {
        if tick > client.acked_tick && tick <= client.last_sent_tick {
            let shift = tick - client.acked_tick;
            let earlier = if client.acked_tick == 0 || shift >= 64 { 0 } else { client.acked_recent << shift };
            client.acked_recent = earlier | 1;
            client.acked_tick = tick;
        }
    }

    fn join(
        &mut self,
        name: String,
        role: Role,
        link: ClientLink,
        resume: Option<ResumeSecret>,
    ) -> Result<ClientKey, JoinRefused> {
        let part = match role {
            Role::Player => {
                if self.players >= self.max_players {
                    return Err(JoinRefused::Full { room: self.id.clone(), limit: self.max_players });
                }
                self.players += 1;
                Part::Player(self.journal.add_player(&mut self.world, name.trim()))
            }
            Role::Spectator => {
                if self.spectators >= self.max_spectators {
                    return Err(JoinRefused::NoSpectatorSlot { room: self.id.clone(), limit: self.max_spectators });
                }
                self.spectators += 1;
                let map = self.world.map();
                Part::Spectator { follow: 0, camera: Vec2::new(map.width as f32, map.height as f32) / 2.0 }
            }
        };
        let generation = self.next_generation;
        self.next_generation += 1;
        let resume = resume.filter(|_| role == Role::Player);
        let greet = self.playback.as_ref().map(crate::recording::Playback::status);
        let slot = self.clients.insert(Client {
            generation,
            part,
            name: Arc::from(name.trim()),
            link: Some(link),
            resume: resume.clone(),
            detached_until: None,
            received_seq: 0,
            inputs: VecDeque::with_capacity(MAX_QUEUED_INPUTS),
            owed_repeats: 0,
            backlog_ticks: 0,
            acked_tick: 0,
            acked_recent: 0,
            last_baseline: 0,
            full_ticks: 0,
            views: SeenHistory::default(),
            last_sent_tick: 0,
            attached_tick: self.world.tick(),
            last_applied_seq: 0,
            moving: false,
            roster_due: role == Role::Spectator,
            hits: VecDeque::new(),
        });
        if let Part::Player(player) = self.clients[slot].part {
            let index = player.slot as usize;
            if self.shooters.len() <= index {
                self.shooters.resize(index + 1, usize::MAX);
            }
            self.shooters[index] = slot;
        }
        if let Some(secret) = resume {
            self.seats.insert(secret, slot);
        }
        self.send_welcome(&self.clients[slot], role);
        if let Some(status) = greet {
            self.notice_to(slot, format!("{status}; commands: /pause, /play, /speed N, /status"));
        }
        self.publish_occupancy();
        debug!(room = %self.id, ?role, name = %name.trim(), "joined");
        let player = match &self.clients[slot].part {
            Part::Player(player) => player.wire_id(),
            Part::Spectator { .. } => 0,
        };
        Ok(ClientKey { slot, generation, player })
    }

    /// Queues the welcome, the first frame of every connection (its outbox is new and empty, so it always fits).
    fn send_welcome(&self, client: &Client, role: Role) {
        let player_id = match &client.part {
            Part::Player(player) => player.wire_id(),
            Part::Spectator { .. } => 0,
        };
        let welcome = ServerMessage::Welcome(Welcome {
            version: PROTOCOL_VERSION,
            player_id,
            tick_rate: self.tick_rate as u16,
            tick: self.world.tick(),
            map: MapInfo::from(self.world.map()),
            rules: RulesInfo::from(self.world.rules()),
            room: RoomInfo { id: self.id.clone(), name: self.name.clone(), role },
            session: self.session_info(client),
        });
        if let Some(link) = &client.link {
            let _ = link.outbox.try_send(Outgoing::Message(codec::encode_server(&welcome)));
        }
    }

    /// Passes a chat line to everyone in the room, the sender included, encoded once.
    fn chat(&mut self, key: ClientKey, text: String) {
        let tick = self.world.tick();
        let command = self.playback.is_some().then(|| text.clone());
        let Some(client) = self.client_mut(key) else { return };
        let from = match client.part {
            Part::Player(player) => player.wire_id(),
            Part::Spectator { .. } => 0,
        };
        let name = client.name.clone();
        let message = ServerMessage::Chat { tick, from, name: name.to_string(), text };
        let bytes = codec::encode_server(&message);
        // Counted before it goes out: whoever reads the line may look at the counter next.
        self.stats.chat_lines.fetch_add(1, Ordering::Relaxed);
        for (_, client) in self.clients.iter() {
            if let Some(link) = &client.link {
                // Chat is not worth waiting for: a client whose outbox is full misses the line.
                let _ = link.outbox.try_send(Outgoing::Message(bytes.clone()));
            }
        }
        if let Some(line) = command {
            self.playback_command(&name, &line);
        }
    }

    fn leave(&mut self, key: ClientKey) {
        if self.client_mut(key).is_none() {
            return;
        }
        let client = self.clients.remove(key.slot);
        if let Some(secret) = &client.resume {
            self.seats.remove(secret);
        }
        if client.link.is_none() {
            self.detached -= 1;
        }
        match client.part {
            Part::Player(player) => {
                self.journal.remove_player(&mut self.world, player);
                if let Some(shooter) = self.shooters.get_mut(player.slot as usize) {
                    *shooter = usize::MAX;
                }
                self.players -= 1;
                debug!(room = %self.id, player = player.wire_id(), "player left");
            }
            Part::Spectator { .. } => self.spectators -= 1,
        }
        self.publish_occupancy();
    }

    fn publish_occupancy(&self) {
        self.stats.players.store(self.players as u32, Ordering::Relaxed);
        self.stats.spectators.store(self.spectators as u32, Ordering::Relaxed);
        self.stats.held_seats.store(self.detached as u32, Ordering::Relaxed);
    }

    /// Counts a tick towards closing an empty room; true once the room has been empty for its grace period.
    fn empty_for_grace(&mut self) -> bool {
        self.empty_ticks = if self.clients.is_empty() { self.empty_ticks + 1 } else { 0 };
        self.empty_ticks >= self.empty_grace_ticks
    }

    /// Refuses the joins still queued when the room closes.
    fn refuse_pending(&mut self, commands: &mut mpsc::Receiver<RoomCommand>) {
        commands.close();
        while let Ok(command) = commands.try_recv() {
            if let RoomCommand::Join { reply, .. } = command {
                let _ = reply.send(Err(JoinRefused::Closed(self.id.clone())));
            }
        }
    }

    /// Runs one tick: inputs, simulation, snapshots. Returns the new tick number.
    pub fn tick(&mut self) -> u32 {
        let current = if self.playback.is_some() {
            // Paused, or slower than the room's rate: nothing new to send.
            let Some(current) = self.advance_playback() else { return self.world.tick() };
            current
        } else {
            self.expire_detached();
            self.apply_inputs();
            self.world.step();
            self.settle_tick()
        };
        self.send_snapshots(&current);
        self.stats.tick.store(current.tick, Ordering::Relaxed);
        current.tick
    }

    /// After a step: takes the tick's events and snapshot, records it, and keeps it for deltas (and the tap).
    fn settle_tick(&mut self) -> Arc<WorldSnapshot> {
        self.events.record(self.world.drain_events());
        self.confirm_hits();
        let current = Arc::new(WorldSnapshot::capture(&self.world));
        self.journal.end_tick(&current);
        self.history.push(current.clone());
        // Events outlive the snapshots a baseline needs (`forget_unreachable_ticks`): a full snapshot carries those
        // of the last 64 ticks, for a newcomer's kill feed.
        self.events.forget_through(current.tick.saturating_sub(HISTORY_TICKS as u32));
        if let Some((tap, capacity)) = &self.tap {
            let mut tap = tap.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if tap.len() == *capacity {
                tap.pop_front();
            }
            tap.push_back(current.clone());
        }
        current
    }

    /// Hands the tick's bullet hits to their shooters' clients, for the `hits` of their snapshots (the send stage
    /// forgets those no baseline can reach any more).
    fn confirm_hits(&mut self) {
        for hit in self.world.drain_hits() {
            let Some(&key) = self.shooters.get(hit.shooter.slot as usize) else { continue };
            let Some(client) = self.clients.get_mut(key) else { continue };
            if matches!(client.part, Part::Player(shooter) if shooter == hit.shooter) {
                client.hits.push_back(Hit { tick: hit.tick, victim: hit.victim.wire_id() });
            }
        }
    }

    /// One input per player per tick, draining backlogs: a burst beyond `MAX_INPUT_BACKLOG` loses its oldest, and
    /// a backlog of two is folded into one when the world repeated an input for want of one (the client's two
    /// inputs then cover the two ticks the world stepped, so its prediction holds) or when it has lasted
    /// `BACKLOG_PATIENCE_TICKS` (then one input is lost, but every later one is applied a tick sooner).
    fn apply_inputs(&mut self) {
        let (mut repeated, mut skipped, mut merged) = (0, 0, 0);
        let mut waits = [0u64; 4];
        let now = self.world.tick();
        for (_, client) in self.clients.iter_mut() {
            while client.inputs.len() > MAX_INPUT_BACKLOG {
                fold_oldest(&mut client.inputs);
                skipped += 1;
            }
            let Part::Player(player) = client.part else { continue };
            if client.inputs.len() >= 2 {
                client.backlog_ticks = client.backlog_ticks.saturating_add(1);
                if client.owed_repeats > 0 || client.backlog_ticks >= BACKLOG_PATIENCE_TICKS {
                    fold_oldest(&mut client.inputs);
                    client.owed_repeats = client.owed_repeats.saturating_sub(1);
                    client.backlog_ticks = 0;
                    merged += 1;
                }
            } else {
                client.backlog_ticks = 0;
            }
            match client.inputs.pop_front() {
                Some((input, arrived)) => {
                    client.last_applied_seq = input.seq;
                    client.moving = input.move_x != 0 || input.move_y != 0;
                    waits[(now.wrapping_sub(arrived) as usize).min(3)] += 1;
                    let wire = WireInput {
                        rewind_q: rewind_q(&input, now.wrapping_add(1), self.tick_rate),
                        ..(&input).into()
                    };
                    self.journal.set_input(&mut self.world, player, wire);
                }
                // The world keeps applying the last input: a client predicting one step per input is now behind,
                // which the next backlog of two makes up.
                None => {
                    repeated += u64::from(client.moving);
                    if client.moving {
                        client.owed_repeats = (client.owed_repeats + 1).min(2);
                    }
                }
            }
        }
        if merged > 0 {
            self.stats.inputs_merged.fetch_add(merged, Ordering::Relaxed);
        }
        for (counter, count) in self.stats.input_wait_ticks.iter().zip(waits) {
            if count > 0 {
                counter.fetch_add(count, Ordering::Relaxed);
            }
        }
        if repeated > 0 {
            self.stats.inputs_repeated.fetch_add(repeated, Ordering::Relaxed);
        }
        if skipped > 0 {
            self.stats.inputs_skipped.fetch_add(skipped, Ordering::Relaxed);
        }
    }

    /// Closes every client with `reason` (used on shutdown).
    pub fn close_all(&mut self, reason: &CloseReason) {
        for link in self.clients.iter().filter_map(|(_, client)| client.link.as_ref()) {
            link.close(reason.clone());
        }
    }
}

/// How far back, in 1/`REWIND_STEPS` ticks, the shooter of `input` saw the other players, for an input applied
/// at tick `applied_at`: the ticks since the snapshot it acknowledged plus the view delay it reported (PROTOCOL.md
/// section 8). 0 without an acknowledgement; the world resolves a rewind beyond its maximum in the present.
fn rewind_q(input: &Input, applied_at: u32, tick_rate: u32) -> u16 {
    let since_ack = applied_at.wrapping_sub(input.ack_tick);
    if input.ack_tick == 0 || since_ack > u32::from(u16::MAX) {
        return 0;
    }
    let steps = crate::sim::REWIND_STEPS as u64;
    let delay = (u64::from(input.view_delay_ms) * u64::from(tick_rate) * steps + 500) / 1000;
    (u64::from(since_ack) * steps + delay).min(u64::from(u16::MAX)) as u16
}

/// Drops the oldest queued input, carrying its fire button into the next one so that a shot is never lost.
fn fold_oldest(inputs: &mut VecDeque<(Input, u32)>) {
    if let Some((oldest, _)) = inputs.pop_front() {
        if let Some((next, _)) = inputs.front_mut() {
            next.buttons |= oldest.buttons & crate::protocol::BUTTON_FIRE;
        }
    }
}
