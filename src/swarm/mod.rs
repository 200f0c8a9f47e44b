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
//!
//! With `SwarmConfig::churn_per_minute` the bots also lose their connections: each bot's socket is ended without a
//! close frame (half the time a FIN, half an RST) at random moments, a Poisson process of that many drops per bot
//! per minute, and the bot takes its seat back with the resume token of its last welcome, retrying with
//! exponential backoff until the grace the welcome announced runs out. The report counts drops, resumes, failed
//! resumes and resumes whose first snapshot was a full one instead of a delta against the tick the bot still held.
//!
//! Each bot also measures play feel as the browser would (`feel`), sends its inputs on the browser's pacer, and
//! follows redirects to the server process that holds its room. The report's types and sums are `report`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::bot::{Brain, SplitMix64, View};
use crate::client::{self, Abrupt, ClientError, GameClient, ResumeOutcome, ServerEvent};
use crate::conditioner::Conditioner;
use crate::feel::{DelayRule, Feel};
use crate::protocol::{Event, Join, Role, RoomInfo, RoomOptions, PROTOCOL_VERSION};

mod light;
mod report;

use report::{delay_rule_name, summarize, BotOutcome};
pub use report::{process_cpu_seconds, Report, RoomReport, SpectatorReport};

/// With inputs slower than snapshots, a bare acknowledgement goes out after this many unacknowledged ticks.
const ACK_EVERY_TICKS: u32 = 4;

/// A dropped bot's first resume attempt waits this long; each further one twice as long, up to
/// [`RESUME_BACKOFF_MAX`] (what the browser client does, so the server sees the same reconnect pattern).
const RESUME_BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// See [`RESUME_BACKOFF_FIRST`].
const RESUME_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Every backoff wait is stretched or shrunk at random by up to this fraction, so bots dropped together (a network
/// blip) do not come back in lockstep.
const RESUME_JITTER: f64 = 0.25;

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
    /// Connection drops per bot per minute (0: none; 0.2: a fifth of the bots per minute). A dropped bot resumes
    /// its seat (see the module docs); spectators never drop, having no seat to resume.
    pub churn_per_minute: f64,
    /// The server's join-token secret, for a server with `--auth-secret`: each bot signs its own token (its name,
    /// allowed to create rooms), as a game's backend would issue them.
    pub auth_secret: Option<Vec<u8>>,
    /// Every bot connection (and resume) goes through this link conditioner (`--link-*`).
    pub link: Option<Arc<Conditioner>>,
    /// The interpolation delay the bots' play-feel measurements model (see `feel`).
    pub delay_rule: DelayRule,
    /// Load mode: 1 bot in this many decodes every snapshot and plays; the others are light (`light`): they read
    /// each snapshot's head only, acknowledge it and walk a seeded circle. 1: every bot plays.
    pub decode_every: usize,
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
    /// Connections dropped on purpose (churn), seats taken back, and resumes given up.
    pub drops: AtomicU64,
    pub resumes: AtomicU64,
    pub failed_resumes: AtomicU64,
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
    if !config.churn_per_minute.is_finite() || config.churn_per_minute < 0.0 {
        return Err(SwarmError::BadConfig(format!(
            "churn of {} drops per bot per minute: it must be a number of at least 0",
            config.churn_per_minute
        )));
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
    // Dropping bots that cannot resume would only shrink the swarm: refuse before the others connect.
    if config.churn_per_minute > 0.0 && firsts.iter().any(|first| first.welcome.session.is_none()) {
        close_all(firsts).await;
        return Err(SwarmError::BadConfig(
            "churn needs seats that survive a drop, but the server's welcome carried no resume session \
             (is its --resume-grace-secs 0?)"
                .into(),
        ));
    }
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
    let mut report = summarize(outcomes, &rooms, config.spectators, elapsed, cpu_seconds);
    report.delay_rule = delay_rule_name(config.delay_rule);
    report.link = config.link.as_ref().map(|conditioner| conditioner.profile().describe());
    Ok(report)
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
            close_all(creators.into_iter().flatten()).await;
            Err(failure)
        }
        None => Ok(creators.into_iter().map(|client| client.expect("every creator joined")).collect()),
    }
}

/// Closes the clients side by side (each waits up to a second for the server's answer).
async fn close_all(clients: impl IntoIterator<Item = GameClient>) {
    let mut closing = JoinSet::new();
    for client in clients {
        closing.spawn(client.close());
    }
    while closing.join_next().await.is_some() {}
}

/// Opens a WebSocket and says hello with `join` (none when claiming another protocol version, whose hello has
/// none).
async fn connect(config: &SwarmConfig, name: &str, join: Join) -> Result<GameClient, ClientError> {
    let join = (config.protocol_version == PROTOCOL_VERSION).then_some(join);
    let auth = match &config.auth_secret {
        Some(secret) => {
            // Valid for the whole run and an hour more: a bot never meets an expiry mid-run.
            let exp = crate::auth::unix_now().saturating_add(config.duration.as_secs() + 3600);
            let claims = crate::auth::JoinClaims { name: name.to_string(), room: None, create: true, exp };
            Some(crate::auth::issue(secret, &claims).map_err(|e| ClientError::Handshake(format!("join token: {e}")))?)
        }
        None => None,
    };
    let ws = client::open_through(&config.url, config.link.as_deref()).await?;
    GameClient::join_following(ws, name, config.protocol_version, join, auth, config.link.clone()).await
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
    let light = player && config.decode_every > 1 && !index.is_multiple_of(config.decode_every);
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
    if light {
        outcome.light = true;
        light::play_light(&mut client, &mut outcome, &config, &progress, &mut end).await;
        return finish(outcome, client, joined, &progress).await;
    }
    let mut brain = Brain::new(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64);
    // An input rate of 0 makes idle bots, and spectators never send input: they only acknowledge.
    let input_period = (player && config.input_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / config.input_rate));
    let mut next_input = joined;
    let mut last_arrival: Option<Instant> = None;
    // Inputs not yet reported as processed, oldest first.
    let mut pending: VecDeque<(u32, Instant)> = VecDeque::with_capacity(64);
    let mut reported = Reported::default();
    let mut acked_sent = 0u32;
    // Only players have a seat to resume (and `run` made sure the server holds seats when churn is asked for).
    let mut churn = (player && config.churn_per_minute > 0.0).then(|| Churn::new(&config, index, joined));
    let welcome = &client.welcome;
    let mut feel = player.then(|| Feel::new(&welcome.map, &welcome.rules, welcome.tick_rate, config.delay_rule));
    // At one input per tick, inputs go out on the browser's pacer instead of after each snapshot: a snapshot's
    // arrival jitter would otherwise become the inputs' own, and the server would repeat and fold them.
    let paced = input_period.is_some() && config.input_rate >= f64::from(client.welcome.tick_rate);
    // The round trip the pacer needs, from a ping a second.
    let (mut rtt, mut next_ping): (Option<Duration>, Instant) = (None, joined);

    loop {
        let next_drop = churn.as_ref().map_or(joined, |churn| churn.next_drop);
        // The branches' futures borrow `client` and `end` until the whole select is done, so the drop is handled
        // after it.
        let armed = paced && client.newest_tick() > 0;
        let wake = tokio::select! {
            biased;
            _ = end.wait_for(|stop| *stop) => break,
            _ = tokio::time::sleep_until(next_drop), if churn.is_some() => Wake::Drop,
            _ = tokio::time::sleep_until(next_input), if armed => Wake::Input,
            event = client.next_event() => Wake::Event(event),
        };
        let wake = match wake {
            Wake::Event(event) => Some(event),
            Wake::Drop => None,
            Wake::Input => {
                let now = Instant::now();
                if let Some(feel) = feel.as_mut() {
                    next_input = feel.next_input_at(now, rtt);
                }
                let sent = match now >= next_ping {
                    true => {
                        next_ping = now + Duration::from_secs(1);
                        let nonce = now.duration_since(joined).as_millis() as u32;
                        client.send(&crate::protocol::ClientMessage::Ping { nonce }).await.map(|_| ())
                    }
                    false => Ok(()),
                };
                let sent = match sent {
                    Ok(()) => play_input(&mut client, &mut brain, feel.as_mut(), config.hold_fire, now).await,
                    Err(error) => Err(error),
                };
                match sent {
                    Ok(seq) => {
                        acked_sent = client.ack_tick();
                        in_flight(&mut pending, seq, now);
                    }
                    Err(error) => {
                        outcome.failure = Some(reason_of(&error));
                        break;
                    }
                }
                continue;
            }
        };
        let event = match (wake, churn.as_mut()) {
            (Some(event), _) => event,
            (None, None) => continue,
            (None, Some(churn)) => {
                churn.next_drop = Instant::now() + churn.wait();
                // A bot that holds no snapshot yet would have nothing to resume from but a full snapshot; a drop
                // that early tells nothing about deltas across a resume, so it waits for the next moment.
                if client.newest_tick() == 0 {
                    continue;
                }
                let dropped_at = Instant::now();
                client.drop_connection(churn.how());
                outcome.traffic.drops += 1;
                progress.drops.fetch_add(1, Ordering::Relaxed);
                // Inputs lost with the socket are never acknowledged, and the outage is no snapshot interval.
                pending.clear();
                last_arrival = None;
                if let Some(feel) = feel.as_mut() {
                    feel.reset_prediction();
                }
                match rejoin(&mut client, &config.url, churn, &mut end, dropped_at).await {
                    Ok(resumed) => {
                        let traffic = &mut outcome.traffic;
                        traffic.resumes += 1;
                        progress.resumes.fetch_add(1, Ordering::Relaxed);
                        traffic.full_after_resume += u64::from(resumed.full());
                        traffic.resume_time.record(dropped_at.elapsed().as_micros() as u64);
                        let gap = u64::from(resumed.tick.wrapping_sub(resumed.held_tick));
                        traffic.resume_gap_ticks_max = traffic.resume_gap_ticks_max.max(gap);
                        churn.next_drop = Instant::now() + churn.wait();
                        next_input = Instant::now();
                        // The first snapshot after the resume is handled as any other (its kills, an input).
                        Ok(resumed.event)
                    }
                    Err(reason) => {
                        outcome.traffic.failed_resumes += 1;
                        progress.failed_resumes.fetch_add(1, Ordering::Relaxed);
                        outcome.failure = Some(format!("resume failed: {reason}"));
                        break;
                    }
                }
            }
        };
        let now = Instant::now();
        match event {
            Ok(ServerEvent::Snapshot { tick, last_input_seq, new_events, .. }) => {
                outcome.traffic.snapshots += 1;
                if let Some((_, entities)) = client.world() {
                    outcome.traffic.in_view_sum += entities.len() as u64;
                    outcome.traffic.in_view_samples += 1;
                    let last = client.last_snapshot();
                    outcome.traffic.created += last.created.len() as u64;
                    outcome.traffic.removed += last.removed.len() as u64;
                    outcome.traffic.changed_bytes += last.changed.len() as u64;
                    if last.baseline != 0 {
                        outcome.traffic.delta_span.record(u64::from(last.tick.wrapping_sub(last.baseline)));
                    }
                }
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
                    if let Some(rtt) = rtt {
                        let wait = (now - sent_at).saturating_sub(rtt);
                        outcome.traffic.server_wait.record(wait.as_micros() as u64);
                    }
                }
                if let Some(feel) = feel.as_mut() {
                    feel.snapshot(now, tick, last_input_seq, client.me_exact().as_ref());
                }
                if player {
                    let me = client.player_id();
                    let kills = new_events.iter().filter(|e| matches!(e, Event::Kill { killer, .. } if *killer == me));
                    let kills = kills.count() as u64;
                    outcome.traffic.kills += kills;
                    progress.kills.fetch_add(kills, Ordering::Relaxed);
                }
                if paced && next_input <= joined {
                    // The first snapshot starts the pacer's rhythm.
                    next_input = now;
                }
                if paced || input_period.is_none() || now < next_input {
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
                    match play_input(&mut client, &mut brain, feel.as_mut(), config.hold_fire, now).await {
                        Ok(seq) => {
                            acked_sent = tick;
                            in_flight(&mut pending, seq, now);
                        }
                        Err(error) => {
                            outcome.failure = Some(reason_of(&error));
                            break;
                        }
                    }
                }
            }
            Ok(ServerEvent::Desync(error)) => tracing::warn!(bot = index, ?role, %error, "desync"),
            Ok(ServerEvent::Pong { nonce }) => {
                let sent = joined + Duration::from_millis(u64::from(nonce));
                let sample = now.saturating_duration_since(sent);
                rtt = Some(rtt.map_or(sample, |rtt| rtt.mul_f64(0.8) + sample.mul_f64(0.2)));
            }
            Ok(ServerEvent::Roster { .. } | ServerEvent::Chat { .. }) => {}
            Err(error) => {
                outcome.failure = Some(reason_of(&error));
                break;
            }
        }
        if player {
            reported.publish(&progress, &client.stats);
        }
    }
    if let Some(feel) = feel {
        outcome.traffic.feel_seconds = feel.elapsed().as_secs_f64();
        outcome.traffic.feel = feel.stats;
    }
    finish(outcome, client, joined, &progress).await
}

/// What a bot already added to the swarm's progress counters.
#[derive(Default)]
struct Reported {
    bytes_in: u64,
    bytes_out: u64,
    desyncs: u64,
}

impl Reported {
    /// Publishes byte and desync counts as deltas, so the progress line stays cheap.
    fn publish(&mut self, progress: &Progress, stats: &client::ClientStats) {
        progress.bytes_in.fetch_add(stats.bytes_in - self.bytes_in, Ordering::Relaxed);
        progress.bytes_out.fetch_add(stats.bytes_out - self.bytes_out, Ordering::Relaxed);
        progress.desyncs.fetch_add(stats.desyncs - self.desyncs, Ordering::Relaxed);
        (self.bytes_in, self.bytes_out, self.desyncs) = (stats.bytes_in, stats.bytes_out, stats.desyncs);
    }
}

/// The end of a connected bot's run, whichever way it played: it leaves the active count, its client's counts go
/// into its outcome, and its socket is closed unless the connection already failed.
async fn finish(mut outcome: BotOutcome, client: GameClient, joined: Instant, progress: &Progress) -> BotOutcome {
    match outcome.role {
        Role::Player => progress.active.fetch_sub(1, Ordering::Relaxed),
        Role::Spectator => progress.spectators_active.fetch_sub(1, Ordering::Relaxed),
    };
    outcome.connected_for = joined.elapsed();
    let stats = &client.stats;
    outcome.traffic.bytes_in = stats.bytes_in;
    outcome.traffic.bytes_out = stats.bytes_out;
    outcome.traffic.full_snapshots = stats.full_snapshots;
    outcome.traffic.deltas = stats.deltas;
    outcome.traffic.desyncs = stats.desyncs;
    if outcome.failure.is_none() {
        client.close().await;
    }
    outcome
}

/// Remembers input `seq`, sent at `now`, until a snapshot acknowledges it (the oldest goes when the bounded queue
/// is full: an input that old is never acknowledged).
fn in_flight(pending: &mut VecDeque<(u32, Instant)>, seq: u32, now: Instant) {
    if pending.len() == pending.capacity() {
        pending.pop_front();
    }
    pending.push_back((seq, now));
}

/// What woke a bot up.
enum Wake<E> {
    Event(E),
    /// Its churn plan says the connection drops now.
    Drop,
    /// Its pacer says the next input is due.
    Input,
}

/// The brain decides on the newest state and the decision goes out as the next input (with its view delay for
/// lag compensation, when the bot measures play feel); returns the input's sequence number.
async fn play_input(
    client: &mut GameClient,
    brain: &mut Brain,
    feel: Option<&mut Feel>,
    hold_fire: bool,
    now: Instant,
) -> Result<u32, ClientError> {
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
    if let Some(feel) = feel {
        let (seq, ack) = (client.next_input_seq(), client.ack_tick());
        client.set_view_delay(feel.input(now, seq, decision.move_x, decision.move_y, ack));
    }
    client.send_input(decision.move_x, decision.move_y, decision.aim, decision.fire && !hold_fire).await
}

/// One bot's plan of connection drops: exponential waits between them (a Poisson process of the configured rate),
/// which way each ends the socket, and its backoff jitter, all from the bot's own generator so that a seed repeats
/// the plan.
struct Churn {
    rng: SplitMix64,
    per_second: f64,
    next_drop: Instant,
}

impl Churn {
    fn new(config: &SwarmConfig, index: usize, joined: Instant) -> Churn {
        // Another stream than the brain's (which mixes the seed with the same index).
        let seed = (config.seed ^ 0xC4_0A11_D209).wrapping_mul(0xD1B5_4A32_D192_ED03) ^ index as u64;
        let mut churn =
            Churn { rng: SplitMix64::new(seed), per_second: config.churn_per_minute / 60.0, next_drop: joined };
        churn.next_drop = joined + churn.wait();
        churn
    }

    /// The time to the next drop: exponentially distributed with mean 1 / rate.
    fn wait(&mut self) -> Duration {
        // 1 - u is in (0, 1], so the logarithm is finite; a year caps the wait of a vanishingly small rate.
        let seconds = -(1.0 - self.rng.unit_f64()).ln() / self.per_second;
        Duration::from_secs_f64(seconds.min(365.0 * 86_400.0))
    }

    /// A FIN or an RST, evenly: the server must hold the seat for either.
    fn how(&mut self) -> Abrupt {
        if self.rng.next_u64() & 1 == 0 {
            Abrupt::Fin
        } else {
            Abrupt::Reset
        }
    }

    /// `delay` stretched or shrunk at random by up to [`RESUME_JITTER`].
    fn jitter(&mut self, delay: Duration) -> Duration {
        delay.mul_f64(1.0 - RESUME_JITTER + 2.0 * RESUME_JITTER * self.rng.unit_f64())
    }
}

/// Takes a dropped bot's seat back. Attempts go out after 100 ms, then twice as long each time up to 5 s (each
/// wait jittered), until the grace the welcome announced has passed since the drop; after that the server has
/// given the seat away. A refusal (4007) is final: the token is spent or expired, and another try cannot succeed.
/// When the run ends meanwhile, one attempt goes out at once, so the bot can still leave cleanly instead of leaving
/// its seat held for the grace.
async fn rejoin(
    client: &mut GameClient,
    url: &str,
    churn: &mut Churn,
    end: &mut watch::Receiver<bool>,
    dropped_at: Instant,
) -> Result<ResumeOutcome, String> {
    let grace = client.resume_grace().unwrap_or_default();
    let deadline = dropped_at + grace;
    let mut backoff = RESUME_BACKOFF_FIRST;
    let mut last_error: Option<String> = None;
    loop {
        let at = Instant::now() + churn.jitter(backoff);
        if at >= deadline {
            let last = last_error.map_or_else(String::new, |error| format!(" (last attempt: {error})"));
            return Err(format!("gave up after the grace of {:.1} s{last}", grace.as_secs_f64()));
        }
        let ending = tokio::select! {
            _ = tokio::time::sleep_until(at) => false,
            _ = end.wait_for(|stop| *stop) => true,
        };
        // A welcome on its way is only a tick away; the rest of the grace bounds an attempt that hangs. An attempt
        // cut short after the server took the token would leave nothing to retry with, so none is cut shorter.
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, client.resume(url)).await {
            Ok(Ok(resumed)) => return Ok(resumed),
            Ok(Err(error)) if error.is_resume_refused() || ending => return Err(reason_of(&error)),
            Ok(Err(error)) => last_error = Some(reason_of(&error)),
            Err(_) => return Err(format!("no welcome within the grace of {:.1} s", grace.as_secs_f64())),
        }
        backoff = (backoff * 2).min(RESUME_BACKOFF_MAX);
    }
}

fn reason_of(error: &ClientError) -> String {
    match error {
        ClientError::Closed { code, reason } => format!("closed {code}: {reason}"),
        other => other.to_string(),
    }
}
