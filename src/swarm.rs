//! A swarm of bots against one server: connects them at a set ramp-up rate, lets each play through the client
//! library with a `bot::Brain`, measures what a client experiences, and sums it up in a `Report`.
//!
//! By default every bot quick-plays, which puts them all in one room while it has space. With `SwarmConfig::rooms`
//! the swarm creates that many rooms instead: the first bot of each creates its room (a hello `create` join) and the
//! others join by the id its welcome carries, bot i in room i % N. Spectators, if asked for, watch the rooms by id
//! (spectator j watches room j % N) and only acknowledge. The report gives the totals and each room's figures.
//!
//! One tokio task per bot: it reads a snapshot, applies it, and (at the configured input rate) answers with the
//! brain's input, which also carries the acknowledgement. Samples go into per-bot histograms merged at the end, so
//! the bots never contend on a lock while playing.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::bot::{Brain, View};
use crate::client::{self, ClientError, GameClient, ServerEvent};
use crate::metrics::Histogram;
use crate::protocol::{Event, Join, Role, RoomInfo, RoomOptions, PROTOCOL_VERSION};

/// With inputs slower than snapshots, a bare acknowledgement goes out after this many unacknowledged ticks.
const ACK_EVERY_TICKS: u32 = 4;

/// What to run.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// WebSocket URL of the server, e.g. `ws://127.0.0.1:8080/ws`.
    pub url: String,
    pub count: usize,
    pub duration: Duration,
    /// New bots per second during ramp-up.
    pub ramp_per_sec: f64,
    /// Inputs per second per bot; inputs follow snapshots, so the tick rate is the ceiling. 0 makes idle
    /// bots that only acknowledge.
    pub input_rate: f64,
    /// Move and aim but never fire: a players-only load, as other servers' benchmarks use.
    pub hold_fire: bool,
    pub name_prefix: String,
    pub seed: u64,
    /// Protocol version the bots claim (to check a server's version handling).
    pub protocol_version: u16,
    /// Rooms to create and spread the bots over; `None`: every bot quick-plays.
    pub rooms: Option<RoomsConfig>,
    /// Clients that spectate (join kind spectate, by room id, spread over the rooms) and only acknowledge; they
    /// connect after the bots and are reported apart from them.
    pub spectators: usize,
}

/// The rooms a swarm creates: their number and the options each is created with.
#[derive(Clone, Debug)]
pub struct RoomsConfig {
    pub count: usize,
    /// Room n (from 1) is named this prefix, a space and n: "bots 1".
    pub name_prefix: String,
    /// A bundled map name or `WIDTHxHEIGHT`; the server's default map when `None`.
    pub map: Option<String>,
    /// Players each room admits; the server's default when `None`.
    pub max_players: Option<u32>,
}

impl RoomsConfig {
    /// `count` rooms named "bots 1".."bots N" with the server's defaults.
    pub fn new(count: usize) -> RoomsConfig {
        RoomsConfig { count, name_prefix: "bots".into(), map: None, max_players: None }
    }

    /// The name of room `index` (from 0).
    pub fn name(&self, index: usize) -> String {
        let name = format!("{} {}", self.name_prefix.trim(), index + 1);
        name.trim().chars().take(crate::config::MAX_ROOM_NAME_CHARS).collect()
    }

    /// What the first bot of room `index` (from 0) asks for.
    pub fn options(&self, index: usize) -> RoomOptions {
        RoomOptions {
            name: Some(self.name(index)),
            map: self.map.clone(),
            max_players: self.max_players,
            ..RoomOptions::default()
        }
    }
}

/// Why a swarm could not run at all.
#[derive(Debug, Error)]
pub enum SwarmError {
    #[error("the first bot could not join {url}: {source}")]
    FirstBot { url: String, source: ClientError },
    /// The bot that was to create room `number` (from 1) of `rooms` could not.
    #[error("the first bot of room {name:?} ({number} of {rooms}) could not create it on {url}: {source}")]
    RoomCreator { name: String, number: usize, rooms: usize, url: String, source: ClientError },
    #[error("{0}")]
    BadConfig(String),
}

/// Live totals for the progress line (bots only, but for the two spectator counts).
#[derive(Debug, Default)]
pub struct Progress {
    pub connected: AtomicU64,
    pub active: AtomicU64,
    pub failed: AtomicU64,
    pub snapshots: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub desyncs: AtomicU64,
    pub kills: AtomicU64,
    pub spectators_active: AtomicU64,
    pub spectators_failed: AtomicU64,
}

/// The summary of a run; serialized as the `--json` object. The top-level figures are the bots' (players');
/// spectators are in `spectators`, each room's figures in `rooms`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub connected: u64,
    pub failed: u64,
    /// Bots whose connection ended before the run did.
    pub disconnected: u64,
    /// Why bots failed or disconnected early, with counts.
    pub close_reasons: BTreeMap<String, u64>,
    pub snapshots_per_bot_s: f64,
    pub bytes_in_per_bot_s: f64,
    pub bytes_out_per_bot_s: f64,
    pub interarrival_ms_p50: f64,
    pub interarrival_ms_p99: f64,
    pub interarrival_ms_max: f64,
    pub ack_latency_ms_p50: f64,
    pub ack_latency_ms_p99: f64,
    pub full_snapshots: u64,
    pub deltas: u64,
    pub desyncs: u64,
    /// Kills scored by bots (each counted once, by its killer).
    pub kills: u64,
    pub duration_s: f64,
    /// CPU time this process used, as a percentage of one core (Linux only; 0 elsewhere).
    pub cpu_percent: f64,
    /// The rooms the bots played in: the created ones in order, or (quick play) in the order the bots found them.
    pub rooms: Vec<RoomReport>,
    pub spectators: SpectatorReport,
}

/// One room's figures, from its bots (and the count of its spectators).
#[derive(Clone, Debug, Serialize)]
pub struct RoomReport {
    pub id: String,
    pub name: String,
    /// Bots that connected to this room.
    pub bots: u64,
    /// Spectators that connected to this room.
    pub spectators: u64,
    pub snapshots_per_bot_s: f64,
    pub bytes_in_per_bot_s: f64,
    pub bytes_out_per_bot_s: f64,
    pub interarrival_ms_p99: f64,
    pub ack_latency_ms_p99: f64,
    pub desyncs: u64,
    pub kills: u64,
}

/// What the spectators experienced, all rooms together.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SpectatorReport {
    /// Spectators asked for.
    pub requested: u64,
    pub connected: u64,
    pub failed: u64,
    pub disconnected: u64,
    pub close_reasons: BTreeMap<String, u64>,
    pub snapshots: u64,
    pub snapshots_per_spectator_s: f64,
    pub bytes_in_per_spectator_s: f64,
    pub bytes_out_per_spectator_s: f64,
    pub interarrival_ms_p99: f64,
    pub full_snapshots: u64,
    pub deltas: u64,
    pub desyncs: u64,
}

/// What one bot (or spectator) measured.
#[derive(Default)]
struct BotOutcome {
    /// Its place in the ramp: bots first, then spectators.
    index: usize,
    role: Role,
    /// The room its welcome admitted it to.
    room: Option<RoomInfo>,
    connected: bool,
    /// Set when the connection failed or ended before the run did.
    failure: Option<String>,
    connected_for: Duration,
    traffic: Traffic,
}

/// What one client received and sent, or a group of clients summed.
#[derive(Default)]
struct Traffic {
    snapshots: u64,
    bytes_in: u64,
    bytes_out: u64,
    full_snapshots: u64,
    deltas: u64,
    desyncs: u64,
    kills: u64,
    interarrival: Histogram,
    ack_latency: Histogram,
}

impl Traffic {
    fn merge(&mut self, other: &Traffic) {
        self.snapshots += other.snapshots;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.full_snapshots += other.full_snapshots;
        self.deltas += other.deltas;
        self.desyncs += other.desyncs;
        self.kills += other.kills;
        self.interarrival.merge(&other.interarrival);
        self.ack_latency.merge(&other.ack_latency);
    }
}

/// Runs the swarm until `config.duration` has passed or `stop` turns true, then closes every bot cleanly.
///
/// The first bot joins alone (with `rooms`: the first bot of every room, each creating its room): if the server is
/// down, refuses the handshake or the room, or speaks another protocol version, the run ends at once with that
/// error instead of starting hundreds of doomed connections.
pub async fn run(
    config: SwarmConfig,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Result<Report, SwarmError> {
    if let Some(rooms) = &config.rooms {
        if rooms.count == 0 || rooms.count > config.count {
            return Err(SwarmError::BadConfig(format!(
                "{} rooms for {} bots: every room needs a bot to create it (1 to {} rooms)",
                rooms.count,
                config.count,
                config.count.max(1)
            )));
        }
    }
    let started = Instant::now();
    let cpu_start = process_cpu_seconds();
    let firsts = match &config.rooms {
        None => {
            let join = Join::QuickPlay { map: None };
            let first = connect(&config, &bot_name(&config, 0), join)
                .await
                .map_err(|source| SwarmError::FirstBot { url: config.url.clone(), source })?;
            vec![first]
        }
        Some(rooms) => create_rooms(&config, rooms, started).await?,
    };
    // The rooms the others join or watch, by id.
    let rooms: Arc<Vec<RoomInfo>> = Arc::new(firsts.iter().map(|client| client.welcome.room.clone()).collect());

    let (end_tx, end_rx) = watch::channel(false);
    let config = Arc::new(config);
    let mut bots = JoinSet::new();
    let first_count = firsts.len();
    for (index, first) in firsts.into_iter().enumerate() {
        bots.spawn(play(Ok(first), index, Role::Player, config.clone(), progress.clone(), end_rx.clone()));
    }
    // The others keep the ramp's pace from where the first bots left it.
    let ramp = config.ramp_per_sec.max(0.001);
    let rest_start = Instant::now().max(started + Duration::from_secs_f64(first_count as f64 / ramp));
    for index in first_count..config.count + config.spectators {
        let delay = Duration::from_secs_f64((index - first_count) as f64 / ramp);
        let (config, progress, end_rx, rooms) = (config.clone(), progress.clone(), end_rx.clone(), rooms.clone());
        bots.spawn(async move {
            let mut end = end_rx.clone();
            tokio::select! {
                _ = tokio::time::sleep_until(rest_start + delay) => {}
                _ = end.wait_for(|stop| *stop) => return BotOutcome { index, ..BotOutcome::default() },
            }
            let (role, name, join) = if index < config.count {
                let join = match &config.rooms {
                    None => Join::QuickPlay { map: None },
                    Some(_) => Join::Room { id: rooms[index % rooms.len()].id.clone() },
                };
                (Role::Player, bot_name(&config, index), join)
            } else {
                let spectator = index - config.count;
                let room = rooms[spectator % rooms.len()].id.clone();
                (Role::Spectator, spectator_name(&config, spectator), Join::Spectate { room: Some(room) })
            };
            let client = connect(&config, &name, join).await;
            play(client, index, role, config, progress, end_rx).await
        });
    }

    let deadline = started + config.duration;
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => {}
        _ = stop.wait_for(|stop| *stop) => {}
    }
    let elapsed = started.elapsed();
    let _ = end_tx.send(true);
    let mut outcomes = Vec::with_capacity(config.count + config.spectators);
    while let Some(outcome) = bots.join_next().await {
        // A panicking bot is a bug, and worth a loud failure rather than a quiet gap in the report.
        outcomes.push(outcome.expect("bot task panicked"));
    }
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    Ok(summarize(outcomes, &rooms, config.spectators, elapsed, cpu_seconds))
}

/// Connects the first bot of every room, each at its place in the ramp and each creating its room. Any refusal
/// ends the run: the other creators are stopped or closed, and the error names the room.
async fn create_rooms(
    config: &SwarmConfig,
    rooms: &RoomsConfig,
    started: Instant,
) -> Result<Vec<GameClient>, SwarmError> {
    let ramp = config.ramp_per_sec.max(0.001);
    let mut creating = JoinSet::new();
    for number in 0..rooms.count {
        let (config, join) = (config.clone(), Join::Create(rooms.options(number)));
        let at = started + Duration::from_secs_f64(number as f64 / ramp);
        creating.spawn(async move {
            tokio::time::sleep_until(at).await;
            (number, connect(&config, &bot_name(&config, number), join).await)
        });
    }
    let mut creators: Vec<Option<GameClient>> = (0..rooms.count).map(|_| None).collect();
    let mut failure = None;
    while let Some(created) = creating.join_next().await {
        let Ok((number, result)) = created else { continue }; // aborted after a failure
        match result {
            Ok(client) => creators[number] = Some(client),
            Err(source) if failure.is_none() => {
                creating.abort_all();
                failure = Some(SwarmError::RoomCreator {
                    name: rooms.name(number),
                    number: number + 1,
                    rooms: rooms.count,
                    url: config.url.clone(),
                    source,
                });
            }
            Err(_) => {}
        }
    }
    match failure {
        Some(failure) => {
            let mut closing = JoinSet::new();
            for client in creators.into_iter().flatten() {
                closing.spawn(client.close());
            }
            while closing.join_next().await.is_some() {}
            Err(failure)
        }
        None => Ok(creators.into_iter().map(|client| client.expect("every creator joined")).collect()),
    }
}

/// Opens a WebSocket and says hello with `join` (none when claiming another protocol version, whose hello has
/// none).
async fn connect(config: &SwarmConfig, name: &str, join: Join) -> Result<GameClient, ClientError> {
    let join = (config.protocol_version == PROTOCOL_VERSION).then_some(join);
    GameClient::join(client::open(&config.url).await?, name, config.protocol_version, join).await
}

fn bot_name(config: &SwarmConfig, index: usize) -> String {
    let name = format!("{}{}", config.name_prefix, index);
    name.chars().take(crate::codec::MAX_NAME_CHARS).collect()
}

fn spectator_name(config: &SwarmConfig, index: usize) -> String {
    let name = format!("{}spec{}", config.name_prefix, index);
    name.chars().take(crate::codec::MAX_NAME_CHARS).collect()
}

async fn play(
    client: Result<GameClient, ClientError>,
    index: usize,
    role: Role,
    config: Arc<SwarmConfig>,
    progress: Arc<Progress>,
    mut end: watch::Receiver<bool>,
) -> BotOutcome {
    let player = role == Role::Player;
    let mut outcome = BotOutcome { index, role, ..BotOutcome::default() };
    let mut client = match client {
        Ok(client) => client,
        Err(error) => {
            let failed = if player { &progress.failed } else { &progress.spectators_failed };
            failed.fetch_add(1, Ordering::Relaxed);
            outcome.failure = Some(reason_of(&error));
            return outcome;
        }
    };
    outcome.connected = true;
    outcome.room = Some(client.welcome.room.clone());
    if player {
        progress.connected.fetch_add(1, Ordering::Relaxed);
        progress.active.fetch_add(1, Ordering::Relaxed);
    } else {
        progress.spectators_active.fetch_add(1, Ordering::Relaxed);
    }
    let joined = Instant::now();
    let mut brain = Brain::new(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64);
    // An input rate of 0 makes idle bots, and spectators never send input: they only acknowledge.
    let input_period = (player && config.input_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / config.input_rate));
    let mut next_input = joined;
    let mut last_arrival: Option<Instant> = None;
    // Inputs not yet reported as processed, oldest first.
    let mut pending: VecDeque<(u32, Instant)> = VecDeque::with_capacity(64);
    let (mut reported_in, mut reported_out, mut reported_desyncs) = (0, 0, 0);
    let mut acked_sent = 0u32;

    loop {
        let event = tokio::select! {
            biased;
            _ = end.wait_for(|stop| *stop) => break,
            event = client.next_event() => event,
        };
        let now = Instant::now();
        match event {
            Ok(ServerEvent::Snapshot { tick, last_input_seq, new_events, .. }) => {
                outcome.traffic.snapshots += 1;
                if player {
                    progress.snapshots.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(last) = last_arrival {
                    outcome.traffic.interarrival.record((now - last).as_micros() as u64);
                }
                last_arrival = Some(now);
                while pending.front().is_some_and(|(seq, _)| *seq <= last_input_seq) {
                    let (_, sent_at) = pending.pop_front().expect("checked non-empty");
                    outcome.traffic.ack_latency.record((now - sent_at).as_micros() as u64);
                }
                if player {
                    let me = client.player_id();
                    let kills = new_events.iter().filter(|e| matches!(e, Event::Kill { killer, .. } if *killer == me));
                    let kills = kills.count() as u64;
                    outcome.traffic.kills += kills;
                    progress.kills.fetch_add(kills, Ordering::Relaxed);
                }
                if input_period.is_none() || now < next_input {
                    // Between inputs, keep the acknowledgement fresh anyway: a client that falls behind and stops
                    // acknowledging gets full snapshots, which are several times larger than deltas.
                    if tick >= acked_sent + ACK_EVERY_TICKS {
                        match client.send_ack().await {
                            Ok(acked) => acked_sent = acked,
                            Err(error) => {
                                outcome.failure = Some(reason_of(&error));
                                break;
                            }
                        }
                    }
                } else {
                    next_input = (next_input + input_period.unwrap_or_default()).max(now);
                    let decision = match (client.world(), client.me()) {
                        (Some((tick, entities)), Some(me)) => brain.decide(&View {
                            tick,
                            me,
                            entities,
                            map: &client.welcome.map,
                            rules: &client.welcome.rules,
                            tick_rate: client.welcome.tick_rate,
                        }),
                        _ => Default::default(),
                    };
                    let fire = decision.fire && !config.hold_fire;
                    match client.send_input(decision.move_x, decision.move_y, decision.aim, fire).await {
                        Ok(seq) => {
                            acked_sent = tick;
                            if pending.len() == pending.capacity() {
                                pending.pop_front();
                            }
                            pending.push_back((seq, now));
                        }
                        Err(error) => {
                            outcome.failure = Some(reason_of(&error));
                            break;
                        }
                    }
                }
            }
            Ok(ServerEvent::Desync(error)) => tracing::warn!(bot = index, ?role, %error, "desync"),
            Ok(ServerEvent::Pong { .. } | ServerEvent::Roster { .. }) => {}
            Err(error) => {
                outcome.failure = Some(reason_of(&error));
                break;
            }
        }
        if player {
            // Publish byte and desync counts as deltas, so the progress line stays cheap.
            let stats = &client.stats;
            progress.bytes_in.fetch_add(stats.bytes_in - reported_in, Ordering::Relaxed);
            progress.bytes_out.fetch_add(stats.bytes_out - reported_out, Ordering::Relaxed);
            progress.desyncs.fetch_add(stats.desyncs - reported_desyncs, Ordering::Relaxed);
            (reported_in, reported_out, reported_desyncs) = (stats.bytes_in, stats.bytes_out, stats.desyncs);
        }
    }
    if player {
        progress.active.fetch_sub(1, Ordering::Relaxed);
    } else {
        progress.spectators_active.fetch_sub(1, Ordering::Relaxed);
    }
    outcome.connected_for = joined.elapsed();
    outcome.traffic.bytes_in = client.stats.bytes_in;
    outcome.traffic.bytes_out = client.stats.bytes_out;
    outcome.traffic.full_snapshots = client.stats.full_snapshots;
    outcome.traffic.deltas = client.stats.deltas;
    outcome.traffic.desyncs = client.stats.desyncs;
    if outcome.failure.is_none() {
        client.close().await;
    }
    outcome
}

fn reason_of(error: &ClientError) -> String {
    match error {
        ClientError::Closed { code, reason } => format!("closed {code}: {reason}"),
        other => other.to_string(),
    }
}

/// Sums of a group of outcomes (all bots, one room's bots, the spectators).
#[derive(Default)]
struct Tally {
    connected: u64,
    failed: u64,
    disconnected: u64,
    close_reasons: BTreeMap<String, u64>,
    /// Seconds connected, summed over the group: the denominator of the per-client rates.
    seconds: f64,
    traffic: Traffic,
}

impl Tally {
    fn add(&mut self, outcome: &BotOutcome) {
        if let Some(reason) = &outcome.failure {
            *self.close_reasons.entry(reason.clone()).or_insert(0) += 1;
            if outcome.connected {
                self.disconnected += 1;
            } else {
                self.failed += 1;
            }
        }
        if !outcome.connected {
            return;
        }
        self.connected += 1;
        self.seconds += outcome.connected_for.as_secs_f64();
        self.traffic.merge(&outcome.traffic);
    }

    /// `total` per connected client per second.
    fn rate(&self, total: u64) -> f64 {
        if self.seconds > 0.0 {
            total as f64 / self.seconds
        } else {
            0.0
        }
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn summarize(
    mut outcomes: Vec<BotOutcome>,
    planned: &[RoomInfo],
    spectators_requested: usize,
    elapsed: Duration,
    cpu_seconds: f64,
) -> Report {
    outcomes.sort_by_key(|outcome| outcome.index);
    let (mut bots, mut spectators) = (Tally::default(), Tally::default());
    // Rooms by id: the planned ones first, then any other a bot landed in (quick play spilling over).
    let mut order: Vec<(String, String)> = planned.iter().map(|room| (room.id.clone(), room.name.clone())).collect();
    let mut rooms: HashMap<String, (Tally, u64)> = HashMap::new();
    for outcome in &outcomes {
        let room = outcome.room.as_ref().map(|room| {
            if !order.iter().any(|(id, _)| *id == room.id) {
                order.push((room.id.clone(), room.name.clone()));
            }
            rooms.entry(room.id.clone()).or_default()
        });
        match outcome.role {
            Role::Player => {
                bots.add(outcome);
                if let Some((tally, _)) = room {
                    tally.add(outcome);
                }
            }
            Role::Spectator => {
                spectators.add(outcome);
                if let Some((_, watching)) = room {
                    *watching += 1;
                }
            }
        }
    }
    let rooms = order
        .into_iter()
        .map(|(id, name)| {
            let (tally, watching) = rooms.remove(&id).unwrap_or_default();
            RoomReport {
                id,
                name,
                bots: tally.connected,
                spectators: watching,
                snapshots_per_bot_s: tally.rate(tally.traffic.snapshots),
                bytes_in_per_bot_s: tally.rate(tally.traffic.bytes_in),
                bytes_out_per_bot_s: tally.rate(tally.traffic.bytes_out),
                interarrival_ms_p99: ms(tally.traffic.interarrival.quantile(0.99)),
                ack_latency_ms_p99: ms(tally.traffic.ack_latency.quantile(0.99)),
                desyncs: tally.traffic.desyncs,
                kills: tally.traffic.kills,
            }
        })
        .collect();
    let spectators = SpectatorReport {
        requested: spectators_requested as u64,
        connected: spectators.connected,
        failed: spectators.failed,
        disconnected: spectators.disconnected,
        snapshots: spectators.traffic.snapshots,
        snapshots_per_spectator_s: spectators.rate(spectators.traffic.snapshots),
        bytes_in_per_spectator_s: spectators.rate(spectators.traffic.bytes_in),
        bytes_out_per_spectator_s: spectators.rate(spectators.traffic.bytes_out),
        interarrival_ms_p99: ms(spectators.traffic.interarrival.quantile(0.99)),
        full_snapshots: spectators.traffic.full_snapshots,
        deltas: spectators.traffic.deltas,
        desyncs: spectators.traffic.desyncs,
        close_reasons: spectators.close_reasons,
    };
    Report {
        connected: bots.connected,
        failed: bots.failed,
        disconnected: bots.disconnected,
        snapshots_per_bot_s: bots.rate(bots.traffic.snapshots),
        bytes_in_per_bot_s: bots.rate(bots.traffic.bytes_in),
        bytes_out_per_bot_s: bots.rate(bots.traffic.bytes_out),
        interarrival_ms_p50: ms(bots.traffic.interarrival.quantile(0.50)),
        interarrival_ms_p99: ms(bots.traffic.interarrival.quantile(0.99)),
        interarrival_ms_max: ms(bots.traffic.interarrival.max),
        ack_latency_ms_p50: ms(bots.traffic.ack_latency.quantile(0.50)),
        ack_latency_ms_p99: ms(bots.traffic.ack_latency.quantile(0.99)),
        full_snapshots: bots.traffic.full_snapshots,
        deltas: bots.traffic.deltas,
        desyncs: bots.traffic.desyncs,
        kills: bots.traffic.kills,
        close_reasons: bots.close_reasons,
        duration_s: elapsed.as_secs_f64(),
        cpu_percent: if elapsed.is_zero() { 0.0 } else { 100.0 * cpu_seconds / elapsed.as_secs_f64() },
        rooms,
        spectators,
    }
}

impl Report {
    /// Desyncs of bots and spectators together (a healthy run has none).
    pub fn all_desyncs(&self) -> u64 {
        self.desyncs + self.spectators.desyncs
    }

    /// The human-readable form.
    pub fn render(&self) -> String {
        let mut text = format!(
            "bots: {} connected, {} failed, {} disconnected early ({:.1} s, {:.0}% of one core)\n\
             snapshots: {:.1} per bot per second ({} full, {} deltas), {} desyncs\n\
             bandwidth per bot: {:.0} B/s in, {:.0} B/s out\n\
             snapshot inter-arrival: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
             input to acknowledgement: p50 {:.1} ms, p99 {:.1} ms\n\
             kills: {}\n",
            self.connected,
            self.failed,
            self.disconnected,
            self.duration_s,
            self.cpu_percent,
            self.snapshots_per_bot_s,
            self.full_snapshots,
            self.deltas,
            self.desyncs,
            self.bytes_in_per_bot_s,
            self.bytes_out_per_bot_s,
            self.interarrival_ms_p50,
            self.interarrival_ms_p99,
            self.interarrival_ms_max,
            self.ack_latency_ms_p50,
            self.ack_latency_ms_p99,
            self.kills,
        );
        for (reason, count) in &self.close_reasons {
            text.push_str(&format!("  {count} x {reason}\n"));
        }
        let plural = if self.rooms.len() == 1 { "" } else { "s" };
        text.push_str(&format!("{} room{plural}:\n", self.rooms.len()));
        for room in &self.rooms {
            text.push_str(&format!(
                "  {} {:?}: {} bots, {} spectators; {:.1} snapshots/bot/s, {:.0} B/s in and {:.0} B/s out per bot, \
                 inter-arrival p99 {:.1} ms, ack p99 {:.1} ms, {} desyncs\n",
                room.id,
                room.name,
                room.bots,
                room.spectators,
                room.snapshots_per_bot_s,
                room.bytes_in_per_bot_s,
                room.bytes_out_per_bot_s,
                room.interarrival_ms_p99,
                room.ack_latency_ms_p99,
                room.desyncs,
            ));
        }
        let s = &self.spectators;
        if s.requested > 0 {
            text.push_str(&format!(
                "spectators: {} of {} connected, {} failed, {} disconnected early; {:.1} snapshots/s each ({} full, \
                 {} deltas), {:.0} B/s in and {:.0} B/s out each, inter-arrival p99 {:.1} ms, {} desyncs\n",
                s.connected,
                s.requested,
                s.failed,
                s.disconnected,
                s.snapshots_per_spectator_s,
                s.full_snapshots,
                s.deltas,
                s.bytes_in_per_spectator_s,
                s.bytes_out_per_spectator_s,
                s.interarrival_ms_p99,
                s.desyncs,
            ));
            for (reason, count) in &s.close_reasons {
                text.push_str(&format!("  {count} x {reason}\n"));
            }
        }
        text
    }
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat; 0 where that is unavailable.
pub fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the parenthesized command name; utime and stime are the 14th and 15th fields overall.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Linux reports these in clock ticks of USER_HZ, which is 100 on every mainstream architecture.
    (ticks(11) + ticks(12)) as f64 / 100.0
}
