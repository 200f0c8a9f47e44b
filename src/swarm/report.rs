//! The swarm's report: what each bot measured (`BotOutcome`, `Traffic`), the sums over groups of them (all bots,
//! a room's, the spectators'), and the `Report` that `run` returns, with its human-readable form.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::feel::{DelayRule, FeelStats};
use crate::metrics::Histogram;
use crate::protocol::{Role, RoomInfo};

/// The summary of a run; serialized as the `--json` object. The top-level figures are the bots' (players');
/// spectators are in `spectators`, each room's figures in `rooms`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub connected: u64,
    /// Entities a decoding bot had in view (its rebuilt world), mean over its snapshots.
    pub in_view_mean: f64,
    /// Per decoded snapshot: entries created and removed, bytes of the `changed` stream, and the ticks a delta
    /// spans (tick - baseline, mean and p99).
    pub created_per_snapshot: f64,
    pub removed_per_snapshot: f64,
    pub changed_bytes_per_snapshot: f64,
    pub delta_span_mean: f64,
    pub delta_span_p99: f64,
    /// Load mode (`--decode-every N`): bots that read snapshot heads only (see `swarm::light`); the desyncs and play
    /// feel figures are those of the others, which decoded and played. 0 when every bot played.
    pub light_bots: u64,
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
    /// The server's share of that (input to acknowledgement less the ping round trip): how long an input waits
    /// between arriving and the snapshot that shows it applied. Paced bots only (they ping).
    pub server_wait_ms_p50: f64,
    pub server_wait_ms_p99: f64,
    /// Play feel (see `feel`): corrections of the own player's prediction per bot per second, their mean, p99 and
    /// largest size in world units, and the share of predictions that needed one.
    pub corrections_per_bot_s: f64,
    pub correction_mean: f64,
    pub correction_p99: f64,
    pub correction_max: f64,
    pub corrected_share: f64,
    /// Predictions checked against the server's state (those of ordinary movement).
    pub predictions_checked: u64,
    /// Interpolation underruns (frames at 60 Hz that found no snapshot ahead, counted when that begins) per bot
    /// per 10 seconds, and the share of frames spent extrapolating.
    pub underruns_per_bot_10s: f64,
    pub extrapolating_share: f64,
    /// How far behind the newest snapshot remote players were drawn (ticks), and the interpolation delay.
    pub behind_newest_ticks_mean: f64,
    pub behind_newest_ticks_p99: f64,
    pub delay_ticks_mean: f64,
    /// How late snapshots arrived behind the early edge the client clock follows (the jitter the delay covers).
    pub lateness_ms_p50: f64,
    pub lateness_ms_p99: f64,
    /// The interpolation delay rule modelled: "adaptive" or "fixed N".
    pub delay_rule: String,
    /// The bots' link conditioner, if any.
    pub link: Option<String>,
    pub full_snapshots: u64,
    pub deltas: u64,
    pub desyncs: u64,
    /// Kills scored by bots (each counted once, by its killer).
    pub kills: u64,
    /// Churn: connections dropped without a close frame, and how many bots lost theirs at least once.
    pub drops: u64,
    pub dropped_bots: u64,
    /// Seats taken back after a drop, and drops after which no resume succeeded within the grace (or the server
    /// refused it): such a bot ends there, counted in `disconnected`.
    pub resumes: u64,
    pub failed_resumes: u64,
    /// Resumes whose first snapshot was a full one (baseline 0) instead of a delta against the tick the bot held;
    /// the server only does that when the held tick is no longer in its history (64 ticks).
    pub full_snapshots_after_resume: u64,
    /// From a drop to the first snapshot applied after its resume.
    pub resume_ms_p50: f64,
    pub resume_ms_p99: f64,
    pub resume_ms_max: f64,
    /// The most ticks between the tick a bot held when resuming and the first snapshot it got after.
    pub resume_gap_ticks_max: u64,
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
    pub drops: u64,
    pub resumes: u64,
    pub failed_resumes: u64,
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
pub(super) struct BotOutcome {
    /// Its place in the ramp: bots first, then spectators.
    pub(super) index: usize,
    pub(super) role: Role,
    /// The room its welcome admitted it to.
    pub(super) room: Option<RoomInfo>,
    pub(super) connected: bool,
    /// Set when the connection failed or ended before the run did.
    pub(super) failure: Option<String>,
    pub(super) connected_for: Duration,
    pub(super) traffic: Traffic,
    /// A light bot of the load mode: it read snapshot heads only (no desyncs or play feel to measure).
    pub(super) light: bool,
}

/// What one client received and sent, or a group of clients summed.
#[derive(Default)]
pub(super) struct Traffic {
    pub(super) snapshots: u64,
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
    pub(super) full_snapshots: u64,
    pub(super) deltas: u64,
    pub(super) desyncs: u64,
    pub(super) kills: u64,
    pub(super) drops: u64,
    pub(super) resumes: u64,
    pub(super) failed_resumes: u64,
    pub(super) full_after_resume: u64,
    /// Microseconds from a drop to the first snapshot after its resume.
    pub(super) resume_time: Histogram,
    pub(super) resume_gap_ticks_max: u64,
    pub(super) interarrival: Histogram,
    pub(super) ack_latency: Histogram,
    /// Input-to-acknowledgement less the ping round trip: the server's share (queue wait and the rest of the
    /// tick), microseconds.
    pub(super) server_wait: Histogram,
    pub(super) feel: FeelStats,
    /// Entities in the bot's rebuilt world after each snapshot it applied, summed, and how many snapshots: what a
    /// player had in view (decoding bots only).
    pub(super) in_view_sum: u64,
    pub(super) in_view_samples: u64,
    /// What the decoded snapshots held: entries created and removed, bytes of `changed`, and how many ticks each
    /// delta spanned (tick - baseline).
    pub(super) created: u64,
    pub(super) removed: u64,
    pub(super) changed_bytes: u64,
    pub(super) delta_span: Histogram,
    /// Seconds of play the feel figures cover.
    pub(super) feel_seconds: f64,
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
        self.drops += other.drops;
        self.resumes += other.resumes;
        self.failed_resumes += other.failed_resumes;
        self.full_after_resume += other.full_after_resume;
        self.resume_time.merge(&other.resume_time);
        self.resume_gap_ticks_max = self.resume_gap_ticks_max.max(other.resume_gap_ticks_max);
        self.interarrival.merge(&other.interarrival);
        self.ack_latency.merge(&other.ack_latency);
        self.server_wait.merge(&other.server_wait);
        self.feel.merge(&other.feel);
        self.feel_seconds += other.feel_seconds;
        self.in_view_sum += other.in_view_sum;
        self.in_view_samples += other.in_view_samples;
        self.created += other.created;
        self.removed += other.removed;
        self.changed_bytes += other.changed_bytes;
        self.delta_span.merge(&other.delta_span);
    }
}

/// Sums of a group of outcomes (all bots, one room's bots, the spectators).
#[derive(Default)]
struct Tally {
    connected: u64,
    failed: u64,
    disconnected: u64,
    /// Clients whose connection churn dropped at least once.
    dropped: u64,
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
        self.dropped += u64::from(outcome.traffic.drops > 0);
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

/// A histogram's value kept in hundredths, back in whole units.
fn hundredths(value: u64) -> f64 {
    value as f64 / 100.0
}

/// `count` per bot per second of play, over `bot_seconds` summed over the bots.
fn per_bot_second(count: u64, bot_seconds: f64) -> f64 {
    if bot_seconds > 0.0 {
        count as f64 / bot_seconds
    } else {
        0.0
    }
}

pub(super) fn delay_rule_name(rule: DelayRule) -> String {
    match rule {
        DelayRule::Adaptive => "adaptive".into(),
        DelayRule::Fixed(ticks) => format!("fixed {ticks} ticks"),
    }
}

pub(super) fn summarize(
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
                drops: tally.traffic.drops,
                resumes: tally.traffic.resumes,
                failed_resumes: tally.traffic.failed_resumes,
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
    let feel = &bots.traffic.feel;
    let light_bots = outcomes.iter().filter(|outcome| outcome.light && outcome.connected).count() as u64;
    Report {
        connected: bots.connected,
        light_bots,
        in_view_mean: bots.traffic.in_view_sum as f64 / bots.traffic.in_view_samples.max(1) as f64,
        created_per_snapshot: bots.traffic.created as f64 / bots.traffic.in_view_samples.max(1) as f64,
        removed_per_snapshot: bots.traffic.removed as f64 / bots.traffic.in_view_samples.max(1) as f64,
        changed_bytes_per_snapshot: bots.traffic.changed_bytes as f64 / bots.traffic.in_view_samples.max(1) as f64,
        delta_span_mean: bots.traffic.delta_span.sum() as f64 / bots.traffic.delta_span.count().max(1) as f64,
        delta_span_p99: bots.traffic.delta_span.quantile(0.99) as f64,
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
        server_wait_ms_p50: ms(bots.traffic.server_wait.quantile(0.50)),
        server_wait_ms_p99: ms(bots.traffic.server_wait.quantile(0.99)),
        corrections_per_bot_s: per_bot_second(feel.corrections.count(), bots.traffic.feel_seconds),
        correction_mean: hundredths(feel.corrections.sum()) / feel.corrections.count().max(1) as f64,
        correction_p99: hundredths(feel.corrections.quantile(0.99)),
        correction_max: hundredths(feel.corrections.max),
        corrected_share: feel.corrections.count() as f64 / feel.checked.max(1) as f64,
        predictions_checked: feel.checked,
        underruns_per_bot_10s: 10.0 * per_bot_second(feel.underruns, bots.traffic.feel_seconds),
        extrapolating_share: feel.extrapolating_frames as f64 / feel.frames.max(1) as f64,
        behind_newest_ticks_mean: hundredths(feel.behind_newest.sum()) / feel.behind_newest.count().max(1) as f64,
        behind_newest_ticks_p99: hundredths(feel.behind_newest.quantile(0.99)),
        delay_ticks_mean: hundredths(feel.delay.sum()) / feel.delay.count().max(1) as f64,
        lateness_ms_p50: ms(feel.lateness.quantile(0.50)),
        lateness_ms_p99: ms(feel.lateness.quantile(0.99)),
        delay_rule: String::new(),
        link: None,
        full_snapshots: bots.traffic.full_snapshots,
        deltas: bots.traffic.deltas,
        desyncs: bots.traffic.desyncs,
        kills: bots.traffic.kills,
        drops: bots.traffic.drops,
        dropped_bots: bots.dropped,
        resumes: bots.traffic.resumes,
        failed_resumes: bots.traffic.failed_resumes,
        full_snapshots_after_resume: bots.traffic.full_after_resume,
        resume_ms_p50: ms(bots.traffic.resume_time.quantile(0.50)),
        resume_ms_p99: ms(bots.traffic.resume_time.quantile(0.99)),
        resume_ms_max: ms(bots.traffic.resume_time.max),
        resume_gap_ticks_max: bots.traffic.resume_gap_ticks_max,
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
             snapshots: {:.1} per bot per second ({} full, {} deltas), {} desyncs; {:.0} entities in view\n\
             snapshot contents: {:.1} created, {:.1} removed, changed {:.0} B; deltas span {:.2} ticks (p99 {:.0})\n\
             bandwidth per bot: {:.0} B/s in, {:.0} B/s out\n\
             snapshot inter-arrival: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
             input to acknowledgement: p50 {:.1} ms, p99 {:.1} ms (at the server: p50 {:.1} ms, p99 {:.1} ms)\n\
             prediction: {:.2} corrections per bot per second ({:.1}% of {} predictions), size mean {:.2}, p99 {:.2}, \
             max {:.2} units\n\
             interpolation ({}): {:.2} underruns per bot per 10 s, {:.2}% of frames extrapolating, remote players \
             {:.2} ticks behind the newest snapshot on average (p99 {:.2}), delay {:.2} ticks; snapshot lateness \
             p50 {:.1} ms, p99 {:.1} ms\n\
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
            self.in_view_mean,
            self.created_per_snapshot,
            self.removed_per_snapshot,
            self.changed_bytes_per_snapshot,
            self.delta_span_mean,
            self.delta_span_p99,
            self.bytes_in_per_bot_s,
            self.bytes_out_per_bot_s,
            self.interarrival_ms_p50,
            self.interarrival_ms_p99,
            self.interarrival_ms_max,
            self.ack_latency_ms_p50,
            self.ack_latency_ms_p99,
            self.server_wait_ms_p50,
            self.server_wait_ms_p99,
            self.corrections_per_bot_s,
            self.corrected_share * 100.0,
            self.predictions_checked,
            self.correction_mean,
            self.correction_p99,
            self.correction_max,
            self.delay_rule,
            self.underruns_per_bot_10s,
            self.extrapolating_share * 100.0,
            self.behind_newest_ticks_mean,
            self.behind_newest_ticks_p99,
            self.delay_ticks_mean,
            self.lateness_ms_p50,
            self.lateness_ms_p99,
            self.kills,
        );
        if let Some(link) = &self.link {
            text.insert_str(0, &format!("bots' link conditioner: {link}\n"));
        }
        if self.light_bots > 0 {
            let playing = self.connected.saturating_sub(self.light_bots);
            text.insert_str(
                0,
                &format!(
                    "LOAD MODE: {} light bots read snapshot heads only and walk a circle; {playing} decoded everything \
                     and played (desyncs and play feel are theirs)\n",
                    self.light_bots
                ),
            );
        }
        if self.drops > 0 || self.failed_resumes > 0 {
            text.push_str(&format!(
                "churn: {} drops ({} bots dropped at least once), {} resumes, {} failed resumes, {} full snapshots \
                 after a resume; drop to first snapshot p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; at most {} ticks \
                 between the held tick and the next\n",
                self.drops,
                self.dropped_bots,
                self.resumes,
                self.failed_resumes,
                self.full_snapshots_after_resume,
                self.resume_ms_p50,
                self.resume_ms_p99,
                self.resume_ms_max,
                self.resume_gap_ticks_max,
            ));
        }
        for (reason, count) in &self.close_reasons {
            text.push_str(&format!("  {count} x {reason}\n"));
        }
        let plural = if self.rooms.len() == 1 { "" } else { "s" };
        text.push_str(&format!("{} room{plural}:\n", self.rooms.len()));
        for room in &self.rooms {
            text.push_str(&format!(
                "  {} {:?}: {} bots, {} spectators; {:.1} snapshots/bot/s, {:.0} B/s in and {:.0} B/s out per bot, \
                 inter-arrival p99 {:.1} ms, ack p99 {:.1} ms, {} desyncs{}\n",
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
                if room.drops > 0 || room.failed_resumes > 0 {
                    format!("; {} drops, {} resumes, {} failed resumes", room.drops, room.resumes, room.failed_resumes)
                } else {
                    String::new()
                },
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
