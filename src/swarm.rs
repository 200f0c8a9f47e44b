//! A swarm of bots against one server: connects them at a set ramp-up rate, lets each play through the client
//! library with a `bot::Brain`, measures what a client experiences, and sums it up in a `Report`.
//!
//! One tokio task per bot: it reads a snapshot, applies it, and (at the configured input rate) answers with the
//! brain's input, which also carries the acknowledgement. Samples go into per-bot histograms merged at the end, so
//! the bots never contend on a lock while playing.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::bot::{Brain, View};
use crate::client::{ClientError, GameClient, ServerEvent};
use crate::metrics::Histogram;
use crate::protocol::Event;

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
    /// spectators that only acknowledge.
    pub input_rate: f64,
    /// Move and aim but never fire: a players-only load, as other servers' benchmarks use.
    pub hold_fire: bool,
    pub name_prefix: String,
    pub seed: u64,
    /// Protocol version the bots claim (to check a server's version handling).
    pub protocol_version: u16,
}

/// Why a swarm could not run at all.
#[derive(Debug, Error)]
pub enum SwarmError {
    #[error("the first bot could not join {url}: {source}")]
    FirstBot { url: String, source: ClientError },
}

/// Live totals for the progress line.
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
}

/// The summary of a run; serialized as the `--json` object.
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
}

/// What one bot measured.
#[derive(Default)]
struct BotOutcome {
    connected: bool,
    /// Set when the connection failed or ended before the run did.
    failure: Option<String>,
    connected_for: Duration,
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

/// Runs the swarm until `config.duration` has passed or `stop` turns true, then closes every bot cleanly.
///
/// The first bot joins alone: if the server is down, refuses the handshake or speaks another protocol version, the
/// run ends at once with that error instead of starting hundreds of doomed connections.
pub async fn run(
    config: SwarmConfig,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Result<Report, SwarmError> {
    let started = Instant::now();
    let cpu_start = process_cpu_seconds();
    let first = GameClient::connect_with_version(&config.url, &bot_name(&config, 0), config.protocol_version)
        .await
        .map_err(|source| SwarmError::FirstBot { url: config.url.clone(), source })?;

    let (end_tx, end_rx) = watch::channel(false);
    let config = Arc::new(config);
    let mut bots = JoinSet::new();
    bots.spawn(play(Ok(first), 0, config.clone(), progress.clone(), end_rx.clone()));
    for index in 1..config.count {
        let delay = Duration::from_secs_f64(index as f64 / config.ramp_per_sec.max(0.001));
        let (config, progress, end_rx) = (config.clone(), progress.clone(), end_rx.clone());
        bots.spawn(async move {
            let mut end = end_rx.clone();
            tokio::select! {
                _ = tokio::time::sleep_until(started + delay) => {}
                _ = end.wait_for(|stop| *stop) => return BotOutcome::default(),
            }
            let name = bot_name(&config, index);
            let client = GameClient::connect_with_version(&config.url, &name, config.protocol_version).await;
            play(client, index, config, progress, end_rx).await
        });
    }

    let deadline = started + config.duration;
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => {}
        _ = stop.wait_for(|stop| *stop) => {}
    }
    let elapsed = started.elapsed();
    let _ = end_tx.send(true);
    let mut outcomes = Vec::with_capacity(config.count);
    while let Some(outcome) = bots.join_next().await {
        // A panicking bot is a bug, and worth a loud failure rather than a quiet gap in the report.
        outcomes.push(outcome.expect("bot task panicked"));
    }
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    Ok(summarize(&outcomes, elapsed, cpu_seconds))
}

fn bot_name(config: &SwarmConfig, index: usize) -> String {
    let name = format!("{}{}", config.name_prefix, index);
    name.chars().take(crate::codec::MAX_NAME_CHARS).collect()
}

async fn play(
    client: Result<GameClient, ClientError>,
    index: usize,
    config: Arc<SwarmConfig>,
    progress: Arc<Progress>,
    mut end: watch::Receiver<bool>,
) -> BotOutcome {
    let mut outcome = BotOutcome::default();
    let mut client = match client {
        Ok(client) => client,
        Err(error) => {
            progress.failed.fetch_add(1, Ordering::Relaxed);
            outcome.failure = Some(reason_of(&error));
            return outcome;
        }
    };
    outcome.connected = true;
    progress.connected.fetch_add(1, Ordering::Relaxed);
    progress.active.fetch_add(1, Ordering::Relaxed);
    let joined = Instant::now();
    let mut brain = Brain::new(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64);
    // An input rate of 0 makes spectators: they only acknowledge.
    let input_period = (config.input_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / config.input_rate));
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
                outcome.snapshots += 1;
                progress.snapshots.fetch_add(1, Ordering::Relaxed);
                if let Some(last) = last_arrival {
                    outcome.interarrival.record((now - last).as_micros() as u64);
                }
                last_arrival = Some(now);
                while pending.front().is_some_and(|(seq, _)| *seq <= last_input_seq) {
                    let (_, sent_at) = pending.pop_front().expect("checked non-empty");
                    outcome.ack_latency.record((now - sent_at).as_micros() as u64);
                }
                let me = client.player_id();
                let kills = new_events.iter().filter(|e| matches!(e, Event::Kill { killer, .. } if *killer == me));
                let kills = kills.count() as u64;
                outcome.kills += kills;
                progress.kills.fetch_add(kills, Ordering::Relaxed);
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
            Ok(ServerEvent::Desync(error)) => tracing::warn!(bot = index, %error, "desync"),
            Ok(ServerEvent::Pong { .. }) => {}
            Err(error) => {
                outcome.failure = Some(reason_of(&error));
                break;
            }
        }
        // Publish byte and desync counts as deltas, so the progress line stays cheap.
        let stats = &client.stats;
        progress.bytes_in.fetch_add(stats.bytes_in - reported_in, Ordering::Relaxed);
        progress.bytes_out.fetch_add(stats.bytes_out - reported_out, Ordering::Relaxed);
        progress.desyncs.fetch_add(stats.desyncs - reported_desyncs, Ordering::Relaxed);
        (reported_in, reported_out, reported_desyncs) = (stats.bytes_in, stats.bytes_out, stats.desyncs);
    }
    progress.active.fetch_sub(1, Ordering::Relaxed);
    outcome.connected_for = joined.elapsed();
    outcome.bytes_in = client.stats.bytes_in;
    outcome.bytes_out = client.stats.bytes_out;
    outcome.full_snapshots = client.stats.full_snapshots;
    outcome.deltas = client.stats.deltas;
    outcome.desyncs = client.stats.desyncs;
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

fn summarize(outcomes: &[BotOutcome], elapsed: Duration, cpu_seconds: f64) -> Report {
    let mut interarrival = Histogram::default();
    let mut ack_latency = Histogram::default();
    let mut close_reasons = BTreeMap::new();
    let (mut connected, mut failed, mut disconnected) = (0, 0, 0);
    let mut bot_seconds = 0.0;
    let (mut snapshots, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64);
    let (mut full_snapshots, mut deltas, mut desyncs, mut kills) = (0, 0, 0, 0);
    for outcome in outcomes {
        if let Some(reason) = &outcome.failure {
            *close_reasons.entry(reason.clone()).or_insert(0) += 1;
            if outcome.connected {
                disconnected += 1;
            } else {
                failed += 1;
            }
        }
        if !outcome.connected {
            continue;
        }
        connected += 1;
        bot_seconds += outcome.connected_for.as_secs_f64();
        snapshots += outcome.snapshots;
        bytes_in += outcome.bytes_in;
        bytes_out += outcome.bytes_out;
        full_snapshots += outcome.full_snapshots;
        deltas += outcome.deltas;
        desyncs += outcome.desyncs;
        kills += outcome.kills;
        interarrival.merge(&outcome.interarrival);
        ack_latency.merge(&outcome.ack_latency);
    }
    let per_bot_second = |total: u64| if bot_seconds > 0.0 { total as f64 / bot_seconds } else { 0.0 };
    let ms = |micros: u64| micros as f64 / 1000.0;
    Report {
        connected,
        failed,
        disconnected,
        close_reasons,
        snapshots_per_bot_s: per_bot_second(snapshots),
        bytes_in_per_bot_s: per_bot_second(bytes_in),
        bytes_out_per_bot_s: per_bot_second(bytes_out),
        interarrival_ms_p50: ms(interarrival.quantile(0.50)),
        interarrival_ms_p99: ms(interarrival.quantile(0.99)),
        interarrival_ms_max: ms(interarrival.max),
        ack_latency_ms_p50: ms(ack_latency.quantile(0.50)),
        ack_latency_ms_p99: ms(ack_latency.quantile(0.99)),
        full_snapshots,
        deltas,
        desyncs,
        kills,
        duration_s: elapsed.as_secs_f64(),
        cpu_percent: if elapsed.is_zero() { 0.0 } else { 100.0 * cpu_seconds / elapsed.as_secs_f64() },
    }
}

impl Report {
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
