//! The room: one task that owns the `World` and runs the fixed-rate tick loop. Many rooms run side by side as
//! tasks of the lobby's room pool; a room knows nothing of the others, of the lobby, or of sockets.
//!
//! Connections reach the room only through its command queue; the room reaches them only through each client's
//! bounded outbox, with `try_send`, so the tick never waits on a socket. A tick runs, always in this order: drain
//! commands, apply one input per player, step the simulation, capture the snapshot, and for each client encode a
//! delta against its acknowledged baseline and hand it to its writer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use glam::Vec2;
use slab::Slab;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, info, warn};

use crate::codec;
use crate::config::{RoomConfig, HISTORY_TICKS};
use crate::interest::InterestGrid;
use crate::link::{ClientLink, CloseReason, DisconnectReason, Outgoing};
use crate::metrics::Histogram;
use crate::protocol::{
    Input, MapInfo, Role, RoomInfo, RulesInfo, ServerMessage, Welcome, BUTTON_FIRE, PROTOCOL_VERSION,
};
use crate::sim::{PlayerId, PlayerInput, Rules, World};
use crate::snapshot::{self, EventLog, SharedRecords, SnapshotHistory, View, WorldSnapshot};

/// Inputs queued beyond this many are stale: the oldest are skipped so a client that sent a burst catches up.
const MAX_INPUT_BACKLOG: usize = 2;
/// Room for a snapshot head: an array header, the tag and three integers of at most five bytes.
const SNAPSHOT_HEAD_BYTES: usize = 24;
/// Inputs held per client between ticks; more than this and the oldest are dropped.
const MAX_QUEUED_INPUTS: usize = 8;

/// Identifies a client of the room; the generation keeps a reused slot from being mistaken for its previous owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientKey {
    slot: usize,
    generation: u64,
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
        reply: oneshot::Sender<Result<ClientKey, JoinRefused>>,
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
}

/// Why `run` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomEnd {
    /// Nobody was in the room for its grace period.
    Empty,
    /// The server is shutting down.
    Shutdown,
}

/// Counters the room publishes for /healthz, logs and tests.
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
    pub frames_sent: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub slow_clients_closed: AtomicU64,
    pub bytes_sent: AtomicU64,
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
    link: ClientLink,
    inputs: VecDeque<Input>,
    /// Newest tick this client acknowledged (0: none).
    acked_tick: u32,
    /// Tick of the newest frame queued for this client.
    last_sent_tick: u32,
    /// Consecutive ticks this client's outbox was full.
    full_ticks: u32,
    /// Its recent views (interest management only).
    views: SeenHistory,
    last_applied_seq: u32,
    /// Whether the input in force moves the player (a repeat of it then changes where the player ends up).
    moving: bool,
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
    /// Bytes to reserve for a body: the largest so far, so encoding never regrows it.
    body_capacity: usize,
    /// Set when each client sees only a radius around its player.
    interest: Option<Interest>,
    /// Test hooks (`RoomConfig::panic_at_tick`, `min_tick_time`): the real-time driver panics after this tick; every
    /// tick lasts at least this long.
    panic_at_tick: Option<u32>,
    min_tick_time: Duration,
}

impl Room {
    pub fn new(config: &RoomConfig, stats: Arc<RoomStats>, tap: Option<SnapshotTap>) -> Room {
        let rules = Rules::for_tick_rate(config.tick_rate);
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
            interest: (config.view_radius > 0.0).then(|| Interest {
                grid: InterestGrid::new(config.map.width, config.map.height, config.view_radius),
                records: SharedRecords::default(),
                frame_capacity: 256,
                events: Vec::new(),
            }),
            body_capacity: 256,
            panic_at_tick: config.panic_at_tick,
            min_tick_time: config.min_tick_time,
        }
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
            RoomCommand::Join { name, role, link, reply } => {
                let result = self.join(name, role, link);
                // The connection may have gone away while waiting; then the slot is freed right here.
                if let Err(Ok(key)) = reply.send(result) {
                    self.leave(key);
                }
            }
            RoomCommand::Input { client, input } => {
                if let Some(c) = self.client_mut(client) {
                    if c.inputs.len() == MAX_QUEUED_INPUTS {
                        c.inputs.pop_front();
                    }
                    c.inputs.push_back(input);
                    Self::acknowledge(c, input.ack_tick);
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
            client.acked_tick = tick;
        }
    }

    fn join(&mut self, name: String, role: Role, link: ClientLink) -> Result<ClientKey, JoinRefused> {
        let part = match role {
            Role::Player => {
                if self.players >= self.max_players {
                    return Err(JoinRefused::Full { room: self.id.clone(), limit: self.max_players });
                }
                self.players += 1;
                Part::Player(self.world.add_player(name.trim()))
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
        let player_id = match &part {
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
        });
        // The outbox is new and empty, so the welcome always fits ahead of the first snapshot.
        let _ = link.outbox.try_send(Outgoing::Message(codec::encode_server(&welcome)));
        let generation = self.next_generation;
        self.next_generation += 1;
        let slot = self.clients.insert(Client {
            generation,
            part,
            link,
            inputs: VecDeque::with_capacity(MAX_QUEUED_INPUTS),
            acked_tick: 0,
            full_ticks: 0,
            views: SeenHistory::default(),
            last_sent_tick: 0,
            last_applied_seq: 0,
            moving: false,
        });
        self.publish_occupancy();
        debug!(room = %self.id, player = player_id, ?role, name = %name.trim(), "joined");
        Ok(ClientKey { slot, generation })
    }

    fn leave(&mut self, key: ClientKey) {
        if self.client_mut(key).is_none() {
            return;
        }
        let client = self.clients.remove(key.slot);
        match client.part {
            Part::Player(player) => {
                self.world.remove_player(player);
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
        self.apply_inputs();
        self.world.step();
        self.events.record(self.world.drain_events());
        let current = Arc::new(WorldSnapshot::capture(&self.world));
        self.history.push(current.clone());
        if let Some(oldest) = self.history.oldest_tick() {
            self.events.forget_through(oldest.saturating_sub(1));
        }
        if let Some((tap, capacity)) = &self.tap {
            let mut tap = tap.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if tap.len() == *capacity {
                tap.pop_front();
            }
            tap.push_back(current.clone());
        }
        self.send_snapshots(&current);
        self.stats.tick.store(current.tick, Ordering::Relaxed);
        current.tick
    }

    fn apply_inputs(&mut self) {
        let (mut repeated, mut skipped) = (0, 0);
        for (_, client) in self.clients.iter_mut() {
            while client.inputs.len() > MAX_INPUT_BACKLOG {
                client.inputs.pop_front();
                skipped += 1;
            }
            let Part::Player(player) = client.part else { continue };
            match client.inputs.pop_front() {
                Some(input) => {
                    client.last_applied_seq = input.seq;
                    client.moving = input.move_x != 0 || input.move_y != 0;
                    self.world.set_input(player, player_input(&input));
                }
                // The world keeps applying the last input: a client predicting one step per input is now behind.
                None => repeated += u64::from(client.moving),
            }
        }
        if repeated > 0 {
            self.stats.inputs_repeated.fetch_add(repeated, Ordering::Relaxed);
        }
        if skipped > 0 {
            self.stats.inputs_skipped.fetch_add(skipped, Ordering::Relaxed);
        }
    }

    fn send_snapshots(&mut self, current: &WorldSnapshot) {
        let tick = current.tick;
        if let Some(interest) = &mut self.interest {
            interest.grid.rebuild(current, self.world.rules().dt);
            interest.records.begin_tick(current);
            interest.events.clear();
        }
        // Writers may still hold last tick's bodies; each tick encodes fresh ones.
        self.bodies.clear();
        let mut totals = SendTotals::default();
        for (_, client) in self.clients.iter_mut() {
            // A full snapshot when there is no acknowledgement or it fell out of the history.
            let mut baseline = match self.history.get(client.acked_tick) {
                Some(_) => client.acked_tick,
                None => 0,
            };
            let outgoing = match &mut self.interest {
                // Everyone sees everyone: clients sharing a baseline share one encoded body, sent without a copy.
                None => {
                    let body = match self.bodies.iter().find(|(b, _)| *b == baseline) {
                        Some((_, body)) => body.clone(),
                        None => {
                            let mut body = Vec::with_capacity(self.body_capacity);
                            let base = self.history.get(baseline).map(|b| View::all(b));
                            write_body(&mut body, base, View::all(current), &self.events);
                            self.body_capacity = self.body_capacity.max(body.len());
                            let body = Bytes::from(body);
                            self.bodies.push((baseline, body.clone()));
                            body
                        }
                    };
                    let mut head = Vec::with_capacity(SNAPSHOT_HEAD_BYTES);
                    codec::encode_snapshot_header(&mut head, tick, baseline, client.last_applied_seq);
                    Outgoing::Split { head, body }
                }
                // Each client sees its own neighbourhood, diffed against what it saw at its baseline.
                Some(interest) => {
                    let index_of = |id: u32| current.entities.binary_search_by_key(&id, |e| e.id).ok();
                    // A player's view centres on itself (always in view); a spectator's on whom it follows, or its
                    // camera.
                    let (center, own) = match client.part {
                        Part::Player(player) => {
                            let Some(own) = index_of(player.wire_id()) else { continue };
                            (interest.grid.position(own), own)
                        }
                        Part::Spectator { follow, camera } => {
                            let followed = (follow != 0).then(|| index_of(follow)).flatten();
                            (followed.map_or(camera, |index| interest.grid.position(index)), usize::MAX)
                        }
                    };
                    let mut visible = client.views.recycle();
                    interest.grid.visible(center, own, &mut visible);
                    let base = match (self.history.get(baseline), client.views.at(baseline)) {
                        (Some(snapshot), Some(seen)) => Some(View::subset(snapshot, seen)),
                        _ => None,
                    };
                    if base.is_none() {
                        baseline = 0;
                    }
                    // The frame is written in place: head, this client's records, events.
                    let mut frame = Vec::with_capacity(interest.frame_capacity);
                    codec::encode_snapshot_header(&mut frame, tick, baseline, client.last_applied_seq);
                    let view = View::subset(current, &visible);
                    interest.records.write_delta(&mut frame, base, view);
                    let events_after = base.map_or(0, |base| base.tick());
                    // Events are not filtered by interest: clients with the same baseline share their encoding.
                    let events = match interest.events.iter().find(|(after, _)| *after == events_after) {
                        Some((_, bytes)) => bytes,
                        None => {
                            let mut bytes = Vec::new();
                            write_events(&mut bytes, &self.events, events_after, tick);
                            interest.events.push((events_after, bytes));
                            &interest.events[interest.events.len() - 1].1
                        }
                    };
                    frame.extend_from_slice(events);
                    interest.frame_capacity = frame.len() + frame.len() / 4 + 32;
                    client.views.pending = Some(visible);
                    Outgoing::Message(frame)
                }
            };
            if deliver(client, outgoing, tick, self.slow_client_ticks, self.tick_rate, &mut totals) {
                if let Some(visible) = client.views.pending.take() {
                    client.views.record(tick, visible, client.acked_tick);
                }
            }
        }
        self.stats.frames_sent.fetch_add(totals.sent, Ordering::Relaxed);
        self.stats.frames_dropped.fetch_add(totals.dropped, Ordering::Relaxed);
        self.stats.bytes_sent.fetch_add(totals.bytes, Ordering::Relaxed);
        self.stats.slow_clients_closed.fetch_add(totals.slow_closed, Ordering::Relaxed);
    }

    /// Closes every client with `reason` (used on shutdown).
    pub fn close_all(&mut self, reason: &CloseReason) {
        for (_, client) in self.clients.iter() {
            client.link.close(reason.clone());
        }
    }
}

/// Writes `created, changed, removed, events`: `current` against `base`, or in full without one. Events since the
/// baseline ride along; a full snapshot carries every event still in the log, because acknowledgements sent
/// before it may still move the client's baseline back behind it, and events must then not be skipped.
fn write_body(body: &mut Vec<u8>, base: Option<View<'_>>, current: View<'_>, events: &EventLog) {
    let tick = current.tick();
    let (delta, events_after) = match base {
        Some(base) => (snapshot::diff_views(base, current), base.tick()),
        None => (snapshot::full_view(current), 0),
    };
    codec::append(body, &delta.created);
    codec::append(body, &delta.changed);
    codec::append(body, &delta.removed);
    write_events(body, events, events_after, tick);
}

/// Appends the array of logged events with `after < tick <= through`.
fn write_events(out: &mut Vec<u8>, events: &EventLog, after: u32, through: u32) {
    let count = events.between(after, through).count();
    // Writing to a Vec cannot fail.
    let _ = rmp::encode::write_array_len(out, count as u32);
    for event in events.between(after, through) {
        codec::append(out, event);
    }
}

/// Frame counts of one tick's sends.
#[derive(Default)]
struct SendTotals {
    sent: u64,
    dropped: u64,
    bytes: u64,
    slow_closed: u64,
}

/// Hands `frame` to the client's writer without waiting; returns whether it was queued. A full outbox drops the
/// frame (the client converges on a later delta) unless it stays full so long that the client has evidently
/// stopped reading, which closes it.
fn deliver(
    client: &mut Client,
    frame: Outgoing,
    tick: u32,
    slow_client_ticks: u32,
    tick_rate: u32,
    totals: &mut SendTotals,
) -> bool {
    let len = frame.len() as u64;
    match client.link.outbox.try_send(frame) {
        Ok(()) => {
            client.last_sent_tick = tick;
            client.full_ticks = 0;
            totals.sent += 1;
            totals.bytes += len;
            true
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            totals.dropped += 1;
            client.full_ticks += 1;
            if client.full_ticks == slow_client_ticks {
                let seconds = f64::from(slow_client_ticks) / f64::from(tick_rate);
                // The connection logs and counts the close, with the peer's address.
                debug!(generation = client.generation, "closing a client that stopped reading");
                let reason = format!("client too slow: not reading for {seconds:.1} s");
                client.link.close(CloseReason::new(DisconnectReason::SlowClient, reason));
                totals.slow_closed += 1;
            }
            false
        }
        // A closed outbox: the connection is going away and its reader is about to send Leave.
        Err(mpsc::error::TrySendError::Closed(_)) => {
            totals.dropped += 1;
            false
        }
    }
}

/// What a client was shown at each recent tick it was sent, when interest management is on: the baseline of
/// a delta is the client's own past view, not the whole world.
#[derive(Debug, Default)]
struct SeenHistory {
    ticks: VecDeque<(u32, Vec<u32>)>,
    /// The view of the frame being sent this tick, recorded once it is queued.
    pending: Option<Vec<u32>>,
}

impl SeenHistory {
    fn at(&self, tick: u32) -> Option<&[u32]> {
        self.ticks.iter().find(|(t, _)| *t == tick).map(|(_, seen)| seen.as_slice())
    }

    /// A buffer for the next view, reusing an old one's allocation.
    fn recycle(&mut self) -> Vec<u32> {
        if self.ticks.len() >= HISTORY_TICKS {
            return self.ticks.pop_front().map(|(_, seen)| seen).unwrap_or_default();
        }
        Vec::new()
    }

    /// Records the view sent at `tick`; views older than the acknowledged tick can never be a baseline again.
    fn record(&mut self, tick: u32, seen: Vec<u32>, acked: u32) {
        while self.ticks.front().is_some_and(|(t, _)| *t < acked) {
            self.ticks.pop_front();
        }
        self.ticks.push_back((tick, seen));
    }
}

/// Interest management state of the room (present when a view radius is set).
#[derive(Debug)]
struct Interest {
    grid: InterestGrid,
    /// Each entity's records, encoded once per tick and shared by every client that sees it.
    records: SharedRecords,
    /// Bytes to reserve for the next client's frame: a little over the last one, so most frames never regrow.
    frame_capacity: usize,
    /// This tick's encoded event lists, by the tick they start after.
    events: Vec<(u32, Vec<u8>)>,
}

fn player_input(input: &Input) -> PlayerInput {
    PlayerInput {
        movement: Vec2::new(f32::from(input.move_x), f32::from(input.move_y)) / 127.0,
        aim: input.aim,
        fire: input.buttons & BUTTON_FIRE != 0,
    }
}

/// Drives `room` in real time until `shutdown` turns true, then closes every client with 1001.
///
/// Tick N starts at `start + N * dt`, so timing never drifts. A tick that ends after the next one was due is an
/// overrun: it is counted and logged, and the schedule skips to the next future slot rather than running a burst
/// of catch-up ticks.
pub async fn run(
    mut room: Room,
    mut commands: mpsc::Receiver<RoomCommand>,
    mut shutdown: watch::Receiver<bool>,
) -> RoomEnd {
    let dt = Duration::from_secs_f64(1.0 / f64::from(room.tick_rate));
    let start = Instant::now();
    let mut slot: u32 = 1;
    info!(room = %room.id, name = %room.name, tick_rate = room.tick_rate, "room open");
    let end = loop {
        let deadline = start + dt * slot;
        tokio::select! {
            biased;
            _ = crate::shutdown::stopping(&mut shutdown) => break RoomEnd::Shutdown,
            _ = sleep_until(deadline) => {}
        }
        let began = Instant::now();
        // Commands are taken once per tick, not as they arrive: waking the room thread for each of thousands of
        // inputs a second cost a context switch each (a third of the server's CPU at 500 players on one core).
        // Joins wait at most one tick for their welcome; inputs queue per client as before.
        let closed = loop {
            match commands.try_recv() {
                Ok(command) => room.handle(command),
                Err(mpsc::error::TryRecvError::Empty) => break false,
                Err(mpsc::error::TryRecvError::Disconnected) => break true,
            }
        };
        if closed {
            break RoomEnd::Shutdown;
        }
        let tick = room.tick();
        if room.panic_at_tick == Some(tick) {
            panic!("injected fault: the room panics at tick {tick}");
        }
        if room.empty_for_grace() {
            room.refuse_pending(&mut commands);
            info!(room = %room.id, "room closed: empty for its grace period");
            return RoomEnd::Empty;
        }
        if !room.min_tick_time.is_zero() {
            // Test hook: a deliberately slow room holds its pool thread, as a heavy tick would.
            std::thread::sleep(room.min_tick_time.saturating_sub(began.elapsed()));
        }
        let finished = Instant::now();
        let micros = (finished - began).as_micros() as u64;
        room.stats.last_tick_micros.store(micros, Ordering::Relaxed);
        room.stats.max_tick_micros.fetch_max(micros, Ordering::Relaxed);
        room.stats.tick_micros.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).record(micros);
        slot += 1;
        let next = start + dt * slot;
        if finished > next {
            let behind = finished - next;
            room.stats.overruns.fetch_add(1, Ordering::Relaxed);
            // Skip every slot already in the past: no burst of catch-up ticks.
            let next_slot = ((finished - start).as_nanos() / dt.as_nanos()) as u32 + 1;
            room.stats.slots_skipped.fetch_add(u64::from(next_slot - slot), Ordering::Relaxed);
            slot = next_slot;
            warn!(
                room = %room.id,
                tick,
                tick_micros = micros,
                behind_micros = behind.as_micros() as u64,
                "tick overran its slot"
            );
        }
    };
    room.close_all(&CloseReason::new(DisconnectReason::ServerShutdown, "server shutting down"));
    commands.close();
    while let Ok(command) = commands.try_recv() {
        if let RoomCommand::Join { reply, .. } = command {
            let _ = reply.send(Err(JoinRefused::ShuttingDown));
        }
    }
    info!(room = %room.id, "room stopped");
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Outgoing;
    use crate::protocol::{player_field, EntityKind, EntityState, Snapshot};
    use crate::snapshot::Replica;

    struct TestClient {
        key: ClientKey,
        outbox: mpsc::Receiver<Outgoing>,
        /// What the room asked the connection to close with, if it did.
        close: watch::Receiver<Option<CloseReason>>,
        replica: Replica,
        seq: u32,
    }

    fn player_id(room: &Room, key: ClientKey) -> u32 {
        match room.clients.get(key.slot).map(|client| &client.part) {
            Some(Part::Player(player)) => player.wire_id(),
            other => panic!("not a player: {other:?}"),
        }
    }

    fn join(room: &mut Room, name: &str, outbox_frames: usize) -> Result<TestClient, JoinRefused> {
        let (link, outbox, close) = ClientLink::new(outbox_frames);
        let (reply, mut answer) = oneshot::channel();
        room.handle(RoomCommand::Join { name: name.into(), role: Role::Player, link, reply });
        let key = answer.try_recv().expect("the room answers a join at once")?;
        Ok(TestClient { key, outbox, close, replica: Replica::new(), seq: 0 })
    }

    #[test]
    fn a_client_whose_outbox_stays_full_for_the_slow_client_timeout_is_closed_at_that_tick() {
        let mut config = RoomConfig::for_tests();
        config.slow_client_timeout = Duration::from_secs(1);
        let stats = Arc::new(RoomStats::default());
        let mut room = Room::new(&config, stats.clone(), None);
        // Outbox of 2: the welcome and the first snapshot fill it, so every tick from the second on drops.
        let deaf = join(&mut room, "deaf", 2).unwrap();
        let mut reader = join(&mut room, "reader", 4).unwrap();
        let slow_ticks = config.tick_rate; // 1 s at the tick rate
        let mut closed_at = None;
        for tick in 1..=3 * slow_ticks {
            room.tick();
            drain(&mut reader);
            if closed_at.is_none() && deaf.close.borrow().is_some() {
                closed_at = Some(tick);
            }
        }
        // Full from tick 2 on: the close comes with the drop that makes `slow_ticks` full ticks in a row.
        assert_eq!(closed_at, Some(1 + slow_ticks));
        let reason = deaf.close.borrow().clone().unwrap();
        assert_eq!(reason.kind, DisconnectReason::SlowClient);
        assert_eq!((reason.code, reason.reason.as_str()), (1008, "client too slow: not reading for 1.0 s"));
        assert_eq!(stats.slow_clients_closed.load(Ordering::Relaxed), 1, "closed once, not once per tick");
        assert!(reader.close.borrow().is_none(), "the client that reads is left alone");
    }

    /// Decodes every queued frame, applies the snapshots, and returns the newest applied one.
    fn drain(client: &mut TestClient) -> Option<Snapshot> {
        let mut newest = None;
        while let Some(bytes) = client.outbox.try_recv().ok().and_then(Outgoing::into_message) {
            if let ServerMessage::Snapshot(snapshot) = codec::decode_server(&bytes).expect("valid frame") {
                client.replica.apply(&snapshot).expect("applies without desync");
                newest = Some(snapshot);
            }
        }
        newest
    }

    fn send_input(room: &mut Room, client: &mut TestClient, move_x: i8, fire: bool) {
        client.seq += 1;
        let ack_tick = client.replica.latest().map_or(0, |(tick, _)| tick);
        let input = Input { seq: client.seq, move_x, move_y: 0, aim: 0, buttons: u8::from(fire), ack_tick };
        room.handle(RoomCommand::Input { client: client.key, input });
    }

    #[test]
    fn a_client_with_a_full_outbox_misses_frames_and_still_converges() {
        let stats = Arc::new(RoomStats::default());
        let mut room = Room::new(&RoomConfig::for_tests(), stats.clone(), None);
        let mut players: Vec<TestClient> = (0..8).map(|i| join(&mut room, &format!("p{i}"), 64).unwrap()).collect();
        let mut slow = join(&mut room, "slow", 3).unwrap();
        let (mut compared, mut most_bullets) = (0, 0);
        for round in 0..400u32 {
            for (i, player) in players.iter_mut().enumerate() {
                let move_x = if (round / 20 + i as u32).is_multiple_of(2) { 127 } else { -127 };
                send_input(&mut room, player, move_x, round % 3 == 0);
            }
            let tick = room.tick();
            most_bullets = most_bullets.max(room.world().bullet_count());
            for player in players.iter_mut() {
                drain(player);
            }
            // The slow client reads only every 10 ticks, so its 3-frame outbox overflows in between.
            if round % 10 == 9 {
                if let Some(snapshot) = drain(&mut slow) {
                    let server_view = room.history.get(snapshot.tick).expect("recent tick in history");
                    assert_eq!(slow.replica.latest_states().unwrap().1, server_view.entities);
                    compared += 1;
                    assert!(snapshot.tick < tick, "the newest frames were the ones dropped");
                }
                send_input(&mut room, &mut slow, 0, false);
            }
        }
        assert!(compared >= 35, "compared {compared} times");
        assert!(stats.frames_dropped.load(Ordering::Relaxed) > 200, "frames were dropped");
        assert!(most_bullets > 0, "bullets were flying, so the frames the slow client missed carried them");
    }

    #[test]
    fn joins_beyond_the_limit_are_refused_and_leaving_frees_the_slot() {
        let mut config = RoomConfig::for_tests();
        config.max_players = 2;
        let mut room = Room::new(&config, Arc::new(RoomStats::default()), None);
        let first = join(&mut room, "a", 4).unwrap();
        let _second = join(&mut room, "b", 4).unwrap();
        let full = JoinRefused::Full { room: "testroom2345".into(), limit: 2 };
        assert_eq!(join(&mut room, "c", 4).err(), Some(full));
        room.handle(RoomCommand::Leave { client: first.key });
        assert_eq!(room.client_count(), 1);
        assert_eq!(room.world().player_count(), 1);
        let third = join(&mut room, "c", 4).unwrap();
        // The old key does not reach the client that now holds its slot.
        assert_ne!(third.key, first.key);
        room.handle(RoomCommand::Leave { client: first.key });
        assert_eq!(room.client_count(), 2);
    }

    #[test]
    fn one_input_per_tick_is_applied_and_reported() {
        let mut room = Room::new(&RoomConfig::for_tests(), Arc::new(RoomStats::default()), None);
        let mut client = join(&mut room, "a", 64).unwrap();
        let welcome = client.outbox.try_recv().unwrap();
        assert!(
            matches!(welcome.into_message(), Some(bytes) if matches!(codec::decode_server(&bytes), Ok(ServerMessage::Welcome(_))))
        );
        room.tick();
        let start = drain(&mut client).unwrap();
        assert_eq!(start.last_input_seq, 0);
        let x0 = client.replica.latest().unwrap().1[0].fields[player_field::X];
        send_input(&mut room, &mut client, 127, false);
        send_input(&mut room, &mut client, 127, false);
        room.tick();
        assert_eq!(drain(&mut client).unwrap().last_input_seq, 1, "one input per tick, in order");
        room.tick();
        assert_eq!(drain(&mut client).unwrap().last_input_seq, 2);
        let x2 = client.replica.latest().unwrap().1[0].fields[player_field::X];
        assert_ne!(x0, x2, "the inputs moved the player");
        // With no new input the last one repeats, and the reported sequence stays.
        room.tick();
        assert_eq!(drain(&mut client).unwrap().last_input_seq, 2);
    }

    /// Bytes of one client's frame, full and delta, with every player moving and firing; the figures the README
    /// quotes come from this test (`cargo test --release --lib frame_sizes -- --nocapture`).
    #[test]
    fn frame_sizes_full_versus_delta() {
        for players in [10usize, 50] {
            let mut room = Room::new(&RoomConfig::for_tests(), Arc::new(RoomStats::default()), None);
            let mut clients: Vec<TestClient> =
                (0..players).map(|i| join(&mut room, &format!("player{i}"), 64).unwrap()).collect();
            let (mut full_bytes, mut full_count, mut delta_bytes, mut delta_count, mut entities) = (0, 0, 0, 0, 0);
            for round in 0..300u32 {
                for (i, client) in clients.iter_mut().enumerate() {
                    let move_x = if (round / 25 + i as u32).is_multiple_of(2) { 127 } else { -127 };
                    send_input(&mut room, client, move_x, (round + i as u32).is_multiple_of(2));
                }
                room.tick();
                for client in clients.iter_mut() {
                    while let Some(bytes) = client.outbox.try_recv().ok().and_then(Outgoing::into_message) {
                        if let Ok(ServerMessage::Snapshot(snapshot)) = codec::decode_server(&bytes) {
                            client.replica.apply(&snapshot).unwrap();
                            if round < 100 {
                                continue; // let bullets fill the arena first
                            }
                            if snapshot.baseline == 0 {
                                full_bytes += bytes.len();
                                full_count += 1;
                            } else {
                                delta_bytes += bytes.len();
                                delta_count += 1;
                            }
                        }
                    }
                }
                if round == 250 {
                    // A late joiner measures a full snapshot of the busy world.
                    clients.push(join(&mut room, "late", 64).unwrap());
                    entities = room.world().player_count() + room.world().bullet_count();
                }
            }
            let full = full_bytes / full_count.max(1);
            let delta = delta_bytes / delta_count.max(1);
            println!("{players} players: full snapshot {full} B ({entities} entities), mean delta {delta} B per client per tick");
            assert_eq!(full_count, 1, "only the late joiner needed a full snapshot");
            assert!(full <= entities * 24 + 64, "full snapshot of {entities} entities took {full} B");
            assert!(delta * 3 < full, "a delta ({delta} B) is well under a full snapshot ({full} B)");
        }
    }

    /// A client whose acknowledgements arrive several ticks late must get out of full snapshots: after a full
    /// snapshot, acknowledgements of older ticks are still in flight, and both sides keep using them.
    #[test]
    fn late_acknowledgements_still_leave_full_snapshots_behind() {
        let mut room = Room::new(&RoomConfig::for_tests(), Arc::new(RoomStats::default()), None);
        let mut client = join(&mut room, "far away", 256).unwrap();
        let _welcome = client.outbox.try_recv();
        const LAG: usize = 3;
        let mut applied: VecDeque<u32> = VecDeque::new();
        let (mut fulls, mut deltas) = (0, 0);
        // Rounds of the full snapshots, and the deltas after the silence.
        let (mut full_rounds, mut deltas_after_silence) = (Vec::new(), 0);
        for round in 0..200u32 {
            // The acknowledgement that reaches the server now is the one the client sent LAG ticks ago.
            if applied.len() > LAG {
                let tick = applied.pop_front().unwrap();
                room.handle(RoomCommand::Ack { client: client.key, tick });
            }
            // Silence for longer than the history once, so a full snapshot follows mid-stream.
            let silent = (60..140).contains(&round);
            room.tick();
            let snapshot = drain(&mut client).expect("a frame every tick");
            if snapshot.baseline == 0 {
                fulls += 1;
                full_rounds.push(round);
            } else {
                deltas += 1;
                deltas_after_silence += usize::from(round >= 140);
            }
            if !silent {
                applied.push_back(snapshot.tick);
            } else {
                applied.clear();
            }
        }
        assert!(deltas > 150, "deltas resume despite the lag ({fulls} full, {deltas} deltas)");
        assert!(fulls < 30, "{fulls} full snapshots");
        // The silence outlived the 64-tick history: its acknowledged baseline was forgotten, so a full snapshot
        // followed it (in the first round after the silence, when the stale ack no longer names a kept tick) ...
        let after_silence: Vec<_> = full_rounds.iter().filter(|&&round| round >= 140).collect();
        assert!(!after_silence.is_empty(), "no full snapshot after the silence (full at rounds {full_rounds:?})");
        assert!(full_rounds.iter().any(|&round| (60..140).contains(&round)), "the silence outlived the history");
        // ... and deltas took over again within a few ticks of the lag.
        assert!(
            deltas_after_silence >= 60 - 2 * LAG,
            "{deltas_after_silence} deltas in the 60 rounds after the silence"
        );
    }

    /// The entities a client should see at `tick` with a view radius, computed independently of the room's grid.
    fn expected_view(room: &Room, tick: u32, own_id: u32, radius: f32) -> Vec<EntityState> {
        let snapshot = room.history.get(tick).expect("tick in history");
        let dt = room.world.rules().dt;
        let position = |e: &EntityState| {
            let (x, y, t) = match e.kind {
                EntityKind::Player => (e.fields[0] as f32, e.fields[1] as f32, 0.0),
                EntityKind::Bullet => {
                    let age = (tick - e.fields[5] as u32) as f32;
                    (
                        e.fields[0] as f32 + e.fields[2] as f32 * age * dt,
                        e.fields[1] as f32 + e.fields[3] as f32 * age * dt,
                        0.0,
                    )
                }
            };
            Vec2::new(x, y) / 16.0 + Vec2::splat(t)
        };
        let own = snapshot.entity(own_id).expect("own player");
        let center = position(own);
        snapshot.entities.iter().filter(|e| e.id == own_id || position(e).distance(center) <= radius).cloned().collect()
    }

    #[test]
    fn with_a_view_radius_each_client_rebuilds_exactly_its_own_view() {
        const RADIUS: f32 = 450.0;
        let mut config = RoomConfig::for_tests();
        config.view_radius = RADIUS;
        let stats = Arc::new(RoomStats::default());
        let mut room = Room::new(&config, stats.clone(), None);
        let mut players: Vec<TestClient> = (0..24).map(|i| join(&mut room, &format!("p{i}"), 64).unwrap()).collect();
        let mut slow = join(&mut room, "slow", 3).unwrap();
        let slow_id = player_id(&room, slow.key);
        let (mut compared, mut partial_views, mut entered_and_left) = (0, 0, 0);
        for round in 0..300u32 {
            for (i, player) in players.iter_mut().enumerate() {
                let move_x = if (round / 30 + i as u32).is_multiple_of(2) { 127 } else { -127 };
                send_input(&mut room, player, move_x, round % 4 == 0);
            }
            let tick = room.tick();
            for (i, player) in players.iter_mut().enumerate() {
                if let Some(snapshot) = drain(player) {
                    // Removed from the view while still in the world: it left the view (not a bullet that expired
                    // or hit something).
                    let world = room.history.get(snapshot.tick).expect("tick in history");
                    entered_and_left += snapshot.removed.iter().filter(|&&id| world.entity(id).is_some()).count();
                    let own_id = player_id(&room, player.key);
                    let expected = expected_view(&room, snapshot.tick, own_id, RADIUS);
                    partial_views += usize::from(expected.len() < room.history.get(tick).unwrap().entities.len());
                    assert_eq!(player.replica.latest_states().unwrap().1, expected, "player {i} at tick {tick}");
                    compared += 1;
                }
            }
            if round % 10 == 9 {
                if let Some(snapshot) = drain(&mut slow) {
                    let expected = expected_view(&room, snapshot.tick, slow_id, RADIUS);
                    assert_eq!(slow.replica.latest_states().unwrap().1, expected, "slow client at {}", snapshot.tick);
                }
                send_input(&mut room, &mut slow, 0, false);
            }
        }
        assert!(compared > 24 * 250, "compared {compared}");
        assert!(partial_views > compared / 2, "most views were partial ({partial_views} of {compared})");
        assert!(entered_and_left > 100, "entities left views and were removed ({entered_and_left})");
        assert!(stats.frames_dropped.load(Ordering::Relaxed) > 100, "the slow client missed frames");
    }
}
