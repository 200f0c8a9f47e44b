//! One reading of everything the server counts: the edge's `ServerStats`, every open room's `RoomStats`, and what
//! the rooms that closed left behind. `/metrics` and `/healthz` are both rendered from a `Census`, so the two never
//! disagree about where a number comes from.
//!
//! Counters are read one by one (relaxed atomics), not frozen together: a reading is a little smeared in time, as
//! any scrape is, but each counter only ever goes up between two readings, closed rooms included.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use crate::link::DisconnectReason;
use crate::lobby::{Lobby, RoomEntry};
use crate::metrics::Histogram;
use crate::room::RoomStats;
use crate::telemetry::ServerStats;

/// The upper bounds of the tick-duration buckets that `/metrics` reports, in microseconds: from half a millisecond
/// to three ticks at 30 Hz, with 33 ms (one tick at 30 Hz) among them.
pub const TICK_BOUNDS_MICROS: [u64; 9] = [500, 1_000, 2_000, 5_000, 10_000, 20_000, 33_000, 50_000, 100_000];

/// Tick durations bucketed at `TICK_BOUNDS_MICROS`: additive, so rooms sum into a process total (which the full
/// log-linear `Histogram` would need 15 KB per room to do).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickBuckets {
    /// Ticks that took at most each bound (cumulative, as Prometheus `le` buckets; see `Histogram::count_at_most`).
    pub at_most: [u64; TICK_BOUNDS_MICROS.len()],
    pub count: u64,
    pub sum_micros: u64,
}

impl TickBuckets {
    pub fn of(histogram: &Histogram) -> TickBuckets {
        TickBuckets {
            at_most: TICK_BOUNDS_MICROS.map(|bound| histogram.count_at_most(bound)),
            count: histogram.count(),
            sum_micros: histogram.sum(),
        }
    }

    pub fn add(&mut self, other: &TickBuckets) {
        for (mine, theirs) in self.at_most.iter_mut().zip(other.at_most) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }
}

/// A room's counters (everything in `RoomStats` that only goes up), under the names `/healthz` gives them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RoomCounts {
    pub tick_overruns: u64,
    pub tick_slots_skipped: u64,
    pub frames_sent: u64,
    pub snapshots_full: u64,
    pub snapshots_delta: u64,
    pub frames_dropped: u64,
    pub bytes_sent: u64,
    pub slow_clients_closed: u64,
    pub inputs_repeated: u64,
    /// Inputs rejected: skipped unapplied for a backlog at the tick, or dropped on arrival with the client's
    /// queue full.
    pub inputs_skipped: u64,
    pub inputs_queue_full: u64,
    /// Inputs folded into the next to drain a backlog of two, and applied inputs by ticks waited (0, 1, 2, 3+).
    pub inputs_merged: u64,
    pub input_wait_ticks: [u64; 4],
    pub seats_detached: u64,
    pub resumes: u64,
    pub resumes_refused: u64,
    pub resumes_expired: u64,
    pub chat_lines: u64,
}

impl RoomCounts {
    pub fn read(stats: &RoomStats) -> RoomCounts {
        let get = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        RoomCounts {
            tick_overruns: get(&stats.overruns),
            tick_slots_skipped: get(&stats.slots_skipped),
            frames_sent: get(&stats.frames_sent),
            snapshots_full: get(&stats.snapshots_full),
            snapshots_delta: get(&stats.snapshots_delta),
            frames_dropped: get(&stats.frames_dropped),
            bytes_sent: get(&stats.bytes_sent),
            slow_clients_closed: get(&stats.slow_clients_closed),
            inputs_repeated: get(&stats.inputs_repeated),
            inputs_skipped: get(&stats.inputs_skipped),
            inputs_queue_full: get(&stats.inputs_queue_full),
            inputs_merged: get(&stats.inputs_merged),
            input_wait_ticks: std::array::from_fn(|i| get(&stats.input_wait_ticks[i])),
            seats_detached: get(&stats.detached),
            resumes: get(&stats.resumes),
            resumes_refused: get(&stats.resumes_refused),
            resumes_expired: get(&stats.resumes_expired),
            chat_lines: get(&stats.chat_lines),
        }
    }

    pub fn add(&mut self, other: &RoomCounts) {
        let RoomCounts {
            tick_overruns,
            tick_slots_skipped,
            frames_sent,
            snapshots_full,
            snapshots_delta,
            frames_dropped,
            bytes_sent,
            slow_clients_closed,
            inputs_repeated,
            inputs_skipped,
            inputs_queue_full,
            inputs_merged,
            input_wait_ticks,
            seats_detached,
            resumes,
            resumes_refused,
            resumes_expired,
            chat_lines,
        } = other;
        // Destructured, so that a counter added to the struct cannot be forgotten here.
        self.tick_overruns += tick_overruns;
        self.tick_slots_skipped += tick_slots_skipped;
        self.frames_sent += frames_sent;
        self.snapshots_full += snapshots_full;
        self.snapshots_delta += snapshots_delta;
        self.frames_dropped += frames_dropped;
        self.bytes_sent += bytes_sent;
        self.slow_clients_closed += slow_clients_closed;
        self.inputs_repeated += inputs_repeated;
        self.inputs_skipped += inputs_skipped;
        self.inputs_queue_full += inputs_queue_full;
        self.inputs_merged += inputs_merged;
        for (total, count) in self.input_wait_ticks.iter_mut().zip(input_wait_ticks) {
            *total += count;
        }
        self.seats_detached += seats_detached;
        self.resumes += resumes;
        self.resumes_refused += resumes_refused;
        self.resumes_expired += resumes_expired;
        self.chat_lines += chat_lines;
    }
}

/// What the rooms that closed counted, kept by the lobby so that process totals never go down when one closes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retired {
    pub rooms: u64,
    pub counts: RoomCounts,
    pub ticks: TickBuckets,
}

impl Retired {
    /// Adds a room whose task has ended (its counters are final).
    pub fn absorb(&mut self, stats: &RoomStats) {
        self.rooms += 1;
        self.counts.add(&RoomCounts::read(stats));
        self.ticks.add(&TickBuckets::of(&stats.tick_micros.lock().unwrap_or_else(|poisoned| poisoned.into_inner())));
    }
}

/// One open room, read.
#[derive(Debug)]
pub struct RoomReading {
    pub entry: Arc<RoomEntry>,
    pub tick: u32,
    pub players: u32,
    pub spectators: u32,
    pub held_seats: u32,
    pub counts: RoomCounts,
    pub last_tick_micros: u64,
    pub max_tick_micros: u64,
    pub ticks: TickBuckets,
    pub tick_micros_p50: u64,
    pub tick_micros_p99: u64,
}

impl RoomReading {
    fn read(entry: Arc<RoomEntry>) -> RoomReading {
        let stats = &entry.stats;
        // Everything from the histogram under one short lock: the room takes it once per tick to record.
        let (ticks, tick_micros_p50, tick_micros_p99) = {
            let histogram = stats.tick_micros.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            (TickBuckets::of(&histogram), histogram.quantile(0.5), histogram.quantile(0.99))
        };
        RoomReading {
            tick: stats.tick.load(Ordering::Relaxed),
            players: stats.players.load(Ordering::Relaxed),
            spectators: stats.spectators.load(Ordering::Relaxed),
            held_seats: stats.held_seats.load(Ordering::Relaxed),
            counts: RoomCounts::read(stats),
            last_tick_micros: stats.last_tick_micros.load(Ordering::Relaxed),
            max_tick_micros: stats.max_tick_micros.load(Ordering::Relaxed),
            ticks,
            tick_micros_p50,
            tick_micros_p99,
            entry,
        }
    }
}

/// The edge's counters, read.
#[derive(Debug)]
pub struct EdgeReading {
    pub connections: u64,
    pub websockets: u64,
    pub violations: u64,
    pub messages_dropped: u64,
    pub connections_refused: u64,
    pub frames_received: u64,
    pub bytes_received: u64,
    /// Every reason, zeros included, in `DisconnectReason::ALL` order.
    pub disconnects: Vec<(DisconnectReason, u64)>,
}

impl EdgeReading {
    fn read(stats: &ServerStats) -> EdgeReading {
        EdgeReading {
            connections: stats.connections.load(Ordering::Relaxed) as u64,
            websockets: stats.websockets.load(Ordering::Relaxed) as u64,
            violations: stats.violations.load(Ordering::Relaxed),
            messages_dropped: stats.messages_dropped.load(Ordering::Relaxed),
            connections_refused: stats.refused.load(Ordering::Relaxed),
            frames_received: stats.frames_received.load(Ordering::Relaxed),
            bytes_received: stats.bytes_received.load(Ordering::Relaxed),
            disconnects: stats.disconnects.all().collect(),
        }
    }
}

/// Everything, read at one moment.
#[derive(Debug)]
pub struct Census {
    /// The open rooms, oldest first.
    pub rooms: Vec<RoomReading>,
    pub max_rooms: u64,
    pub room_panics: u64,
    pub rooms_opened: u64,
    pub rooms_closed: u64,
    pub edge: EdgeReading,
    /// Since the process started: the closed rooms' final counts plus the open rooms' counts now.
    pub totals: RoomCounts,
    pub ticks: TickBuckets,
    /// The recorder's counters, when rooms are recorded (`--record`).
    pub recording: Option<RecordingReading>,
    /// The shared room directory's, with `--redis`.
    pub directory: Option<DirectoryReading>,
}

/// This process's use of the room directory (see `directory::DirectoryStats`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DirectoryReading {
    pub process: String,
    pub url: String,
    /// Whether the last call reached Redis.
    pub reachable: bool,
    pub draining: bool,
    pub redis_commands: u64,
    pub redis_errors: u64,
    pub heartbeats: u64,
    pub redirects: u64,
    pub seats_redeemed: u64,
    pub seats_refused: u64,
}

/// What the recorder wrote (see `recording::ArchiveStats`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RecordingReading {
    pub files_opened: u64,
    pub files_finished: u64,
    pub bytes_written: u64,
    /// Files ended early at their size bound, or because the writer fell behind (a tick never waits for it).
    pub truncated_size: u64,
    pub truncated_behind: u64,
    pub write_errors: u64,
}

impl Census {
    pub fn take(server: &ServerStats, lobby: &Lobby) -> Census {
        // The open rooms and what the closed ones left, at the same moment: a room is in exactly one of them.
        let (entries, retired) = lobby.rooms_and_retired();
        let rooms: Vec<RoomReading> = entries.into_iter().map(RoomReading::read).collect();
        let (mut totals, mut ticks) = (retired.counts, retired.ticks);
        for room in &rooms {
            totals.add(&room.counts);
            ticks.add(&room.ticks);
        }
        Census {
            rooms,
            max_rooms: lobby.max_rooms() as u64,
            room_panics: lobby.room_panics.load(Ordering::Relaxed),
            rooms_opened: lobby.rooms_opened(),
            rooms_closed: retired.rooms,
            edge: EdgeReading::read(server),
            totals,
            ticks,
            recording: lobby.recorder().map(|recorder| {
                let stats = recorder.stats();
                let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
                RecordingReading {
                    files_opened: read(&stats.files_opened),
                    files_finished: read(&stats.files_finished),
                    bytes_written: read(&stats.bytes_written),
                    truncated_size: read(&stats.truncated_size),
                    truncated_behind: read(&stats.truncated_behind),
                    write_errors: read(&stats.write_errors),
                }
            }),
            directory: lobby.directory().map(|directory| {
                let stats = &directory.stats;
                let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
                DirectoryReading {
                    process: directory.proc_id().to_string(),
                    url: directory.public_url().to_string(),
                    reachable: stats.reachable.load(Ordering::Relaxed),
                    draining: directory.is_draining(),
                    redis_commands: read(&stats.commands),
                    redis_errors: read(&stats.errors),
                    heartbeats: read(&stats.heartbeats),
                    redirects: read(&stats.redirects),
                    seats_redeemed: read(&stats.seats_redeemed),
                    seats_refused: read(&stats.seats_refused),
                }
            }),
        }
    }

    /// A sum over the open rooms.
    pub fn sum(&self, value: impl Fn(&RoomReading) -> u64) -> u64 {
        self.rooms.iter().map(value).sum()
    }

    /// The largest value over the open rooms (0 without rooms).
    pub fn worst(&self, value: impl Fn(&RoomReading) -> u64) -> u64 {
        self.rooms.iter().map(value).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_buckets_add_up_across_rooms() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        for micros in [100, 800, 3_000, 40_000] {
            a.record(micros);
        }
        b.record(200_000);
        let mut total = TickBuckets::of(&a);
        total.add(&TickBuckets::of(&b));
        assert_eq!(total.count, 5);
        assert_eq!(total.sum_micros, 100 + 800 + 3_000 + 40_000 + 200_000);
        assert_eq!(total.at_most, [1, 2, 2, 3, 3, 3, 3, 4, 4]);
    }

    #[test]
    fn retired_rooms_keep_their_counts() {
        let stats = RoomStats::default();
        stats.frames_sent.store(7, Ordering::Relaxed);
        stats.detached.store(2, Ordering::Relaxed);
        stats.tick_micros.lock().unwrap().record(1_500);
        let mut retired = Retired::default();
        retired.absorb(&stats);
        retired.absorb(&stats);
        assert_eq!(retired.rooms, 2);
        assert_eq!(retired.counts.frames_sent, 14);
        assert_eq!(retired.counts.seats_detached, 4);
        assert_eq!(retired.ticks.count, 2);
        assert_eq!(retired.ticks.at_most[TICK_BOUNDS_MICROS.iter().position(|&b| b == 2_000).unwrap()], 2);
    }
}
