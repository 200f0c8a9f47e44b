//! `GET /metrics`: the census in the Prometheus text format (0.0.4), encoded by prometheus-client, the official Rust
//! client.
//!
//! Nothing is registered per room: one `Collector` takes a census at each scrape and encodes what it read, so a
//! room's series exist exactly while the room does (the `room` label stays bounded by `--max-rooms`), and the
//! counters stay where they already are (the rooms' and the edge's atomics), with no second copy to keep in step.
//! Process-wide counters carry no `room` label and include the rooms that closed, so they never go down; the
//! `skirmish_room_*` families are the same figures per open room.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::lobby::Lobby;
use crate::telemetry::census::{Census, RoomCounts, RoomReading, TickBuckets, TICK_BOUNDS_MICROS};
use crate::telemetry::ServerStats;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The registry behind `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub fn new(server: Arc<ServerStats>, lobby: Arc<Lobby>) -> Metrics {
        let mut registry = Registry::with_prefix("skirmish");
        registry.register_collector(Box::new(CensusCollector { server, lobby }));
        Metrics { registry }
    }

    /// The exposition, read now.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Reads the edge and the lobby at every scrape.
struct CensusCollector {
    server: Arc<ServerStats>,
    lobby: Arc<Lobby>,
}

impl std::fmt::Debug for CensusCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CensusCollector")
    }
}

impl Collector for CensusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode(&Census::take(&self.server, &self.lobby), &mut Families(&mut encoder))
    }
}

type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

const NO_LABELS: Labels<'static, 0> = [];

/// Every family, in the order a reader meets them: the process, then the rooms.
fn encode(census: &Census, out: &mut Families<'_, '_>) -> std::fmt::Result {
    let (edge, totals) = (&census.edge, &census.totals);
    let bytes = Some(&Unit::Bytes);
    let one = |label: &'static str, pairs: &[(&'static str, u64)]| -> Vec<(Labels<'static, 1>, u64)> {
        pairs.iter().map(|&(value, count)| ([(label, value)], count)).collect()
    };

    out.gauge("rooms", "Rooms open.", census.rooms.len() as u64)?;
    out.gauge("room_limit", "Most rooms this process hosts at once (--max-rooms).", census.max_rooms)?;
    out.counter("rooms_opened", "Rooms opened since the process started.", None, census.rooms_opened)?;
    out.counter(
        "rooms_closed",
        "Rooms closed (empty for their grace, shut down or crashed).",
        None,
        census.rooms_closed,
    )?;
    out.counter("room_panics", "Rooms whose task panicked.", None, census.room_panics)?;
    if let Some(recording) = &census.recording {
        out.counter("recordings_opened", "Recording files opened (--record).", None, recording.files_opened)?;
        out.counter("recordings_finished", "Recording files finished and closed.", None, recording.files_finished)?;
        out.counter("recorded", "Bytes written to recording files.", bytes, recording.bytes_written)?;
        let truncated =
            [([("reason", "size")], recording.truncated_size), ([("reason", "behind")], recording.truncated_behind)];
        out.counters("recordings_truncated", "Recordings ended early, by why.", None, truncated)?;
        out.counter(
            "recording_write_errors",
            "Recording files that could not be written.",
            None,
            recording.write_errors,
        )?;
    }
    if let Some(directory) = &census.directory {
        out.gauge(
            "directory_reachable",
            "1 when the last room directory call reached Redis (--redis).",
            u64::from(directory.reachable),
        )?;
        out.gauge(
            "directory_draining",
            "1 while this process drains (SIGTERM with --redis).",
            u64::from(directory.draining),
        )?;
        out.counter(
            "directory_redis_commands",
            "Redis commands sent for the room directory.",
            None,
            directory.redis_commands,
        )?;
        out.counter(
            "directory_redis_errors",
            "Room directory calls that failed or timed out.",
            None,
            directory.redis_errors,
        )?;
        out.counter(
            "directory_heartbeats",
            "Heartbeats that published this process and its rooms.",
            None,
            directory.heartbeats,
        )?;
        out.counter(
            "directory_redirects",
            "Hellos sent to another process (quick play, a new room there).",
            None,
            directory.redirects,
        )?;
        let seats = [
            ([("outcome", "redeemed")], directory.seats_redeemed),
            ([("outcome", "refused")], directory.seats_refused),
        ];
        out.counters("directory_seats", "Seat tokens presented here, by outcome.", None, seats)?;
    }
    out.gauge("players", "Players in all rooms (held seats included).", census.sum(|r| r.players.into()))?;
    out.gauge("spectators", "Spectators in all rooms.", census.sum(|r| r.spectators.into()))?;
    out.gauge("held_seats", "Seats held for a resume, their socket gone.", census.sum(|r| r.held_seats.into()))?;
    out.gauge("connections", "Open TCP connections (HTTP and WebSocket).", edge.connections)?;
    out.gauge("websockets", "Open WebSocket sessions.", edge.websockets)?;
    out.counter(
        "connections_refused",
        "Connections refused at the total or per-address limit.",
        None,
        edge.connections_refused,
    )?;
    out.counter(
        "violations",
        "Connections closed for breaking a rule of the protocol or the edge.",
        None,
        edge.violations,
    )?;
    let disconnects = edge.disconnects.iter().map(|(reason, count)| ([("reason", reason.name())], *count));
    out.counters("disconnects", "Connections ended, by why (typed reason).", None, disconnects)?;
    out.counter(
        "frames_received",
        "WebSocket frames received from clients, control frames included.",
        None,
        edge.frames_received,
    )?;
    out.counter("received", "Payload bytes of the WebSocket frames received.", bytes, edge.bytes_received)?;
    out.counter("messages_rate_limited", "Client messages dropped by the rate limit.", None, edge.messages_dropped)?;
    out.counter("frames_sent", "Snapshot frames queued to clients.", None, totals.frames_sent)?;
    out.counter(
        "sent",
        "Payload bytes of the snapshot frames queued (no WebSocket or TCP framing).",
        bytes,
        totals.bytes_sent,
    )?;
    out.counters("snapshots_sent", "Snapshots queued, by kind.", None, one("kind", &snapshot_kinds(totals)))?;
    out.counter(
        "frames_dropped",
        "Snapshot frames dropped because a client's outbox was full.",
        None,
        totals.frames_dropped,
    )?;
    out.counter(
        "slow_clients_closed",
        "Clients closed for not reading their frames.",
        None,
        totals.slow_clients_closed,
    )?;
    out.counters(
        "inputs_rejected",
        "Inputs dropped unapplied, by why.",
        None,
        one("reason", &input_rejections(totals)),
    )?;
    out.counter(
        "inputs_repeated",
        "Ticks where a moving player's last input was applied again.",
        None,
        totals.inputs_repeated,
    )?;
    out.counter(
        "inputs_merged",
        "Inputs folded into the next one to drain a backlog of two (fire carried over).",
        None,
        totals.inputs_merged,
    )?;
    let waits = ["0", "1", "2", "3+"]
        .into_iter()
        .zip(totals.input_wait_ticks)
        .map(|(ticks, count)| ([("ticks", ticks)], count));
    out.counters("input_wait", "Applied inputs by the ticks they waited in the room's queue.", None, waits)?;
    out.counter(
        "seats_detached",
        "Player seats held for a resume when their socket dropped.",
        None,
        totals.seats_detached,
    )?;
    out.counters("resumes", "Resumes of a held seat, by outcome.", None, one("outcome", &resume_outcomes(totals)))?;
    out.counter("chat_lines", "Chat lines passed on.", None, totals.chat_lines)?;
    out.counter("tick_overruns", "Ticks that ended after the next one was due.", None, totals.tick_overruns)?;
    out.counter("tick_slots_skipped", "Tick slots skipped after overruns.", None, totals.tick_slots_skipped)?;
    out.histograms(
        "tick_duration",
        "Tick durations of all rooms, measured inside the room.",
        [(NO_LABELS, &census.ticks)],
    )?;

    let rooms = census.rooms.as_slice();
    let info = rooms.iter().map(|r| {
        let entry = &r.entry;
        let private = if entry.private { "true" } else { "false" };
        (room(r), [("name", entry.name.as_str()), ("map", entry.map.as_str()), ("private", private)])
    });
    out.infos("room", "Each open room's name, map and visibility.", info)?;
    out.gauges(
        "room_players",
        "Players in the room (held seats included).",
        rooms.iter().map(|r| (room(r), r.players.into())),
    )?;
    out.gauges("room_spectators", "Spectators in the room.", rooms.iter().map(|r| (room(r), r.spectators.into())))?;
    out.gauges("room_held_seats", "Seats held for a resume.", rooms.iter().map(|r| (room(r), r.held_seats.into())))?;
    out.gauges(
        "room_max_players",
        "The room's player limit.",
        rooms.iter().map(|r| (room(r), r.entry.max_players as u64)),
    )?;
    out.counters("room_ticks", "Ticks the room has run.", None, rooms.iter().map(|r| (room(r), r.tick.into())))?;
    out.histograms("room_tick_duration", "The room's tick durations.", rooms.iter().map(|r| (room(r), &r.ticks)))?;
    out.counters(
        "room_tick_overruns",
        "Ticks that ended after the next one was due.",
        None,
        per_room(rooms, |c| c.tick_overruns),
    )?;
    out.counters(
        "room_tick_slots_skipped",
        "Tick slots skipped after overruns.",
        None,
        per_room(rooms, |c| c.tick_slots_skipped),
    )?;
    out.counters(
        "room_frames_sent",
        "Snapshot frames queued to the room's clients.",
        None,
        per_room(rooms, |c| c.frames_sent),
    )?;
    out.counters(
        "room_sent",
        "Payload bytes of the snapshot frames queued.",
        bytes,
        per_room(rooms, |c| c.bytes_sent),
    )?;
    out.counters(
        "room_snapshots_sent",
        "Snapshots queued, by kind.",
        None,
        per_room_by(rooms, "kind", snapshot_kinds),
    )?;
    out.counters(
        "room_frames_dropped",
        "Snapshot frames dropped, a client's outbox full.",
        None,
        per_room(rooms, |c| c.frames_dropped),
    )?;
    out.counters(
        "room_slow_clients_closed",
        "Clients closed for not reading.",
        None,
        per_room(rooms, |c| c.slow_clients_closed),
    )?;
    out.counters(
        "room_inputs_rejected",
        "Inputs dropped unapplied, by why.",
        None,
        per_room_by(rooms, "reason", input_rejections),
    )?;
    out.counters(
        "room_resumes",
        "Resumes of a held seat, by outcome.",
        None,
        per_room_by(rooms, "outcome", resume_outcomes),
    )?;
    out.counters("room_chat_lines", "Chat lines passed on.", None, per_room(rooms, |c| c.chat_lines))
}

fn room(room: &RoomReading) -> Labels<'_, 1> {
    [("room", room.entry.id.as_str())]
}

/// One counter of every room, labelled with the room's id.
fn per_room(rooms: &[RoomReading], value: fn(&RoomCounts) -> u64) -> impl Iterator<Item = (Labels<'_, 1>, u64)> {
    rooms.iter().map(move |r| (room(r), value(&r.counts)))
}

/// Counters of every room split by a second label, from `pairs` of that label's value and the count.
fn per_room_by<'r, const N: usize>(
    rooms: &'r [RoomReading],
    label: &'static str,
    pairs: fn(&RoomCounts) -> [(&'static str, u64); N],
) -> impl Iterator<Item = (Labels<'r, 2>, u64)> {
    rooms.iter().flat_map(move |r| {
        pairs(&r.counts).into_iter().map(move |(value, count)| ([("room", r.entry.id.as_str()), (label, value)], count))
    })
}

fn snapshot_kinds(counts: &RoomCounts) -> [(&'static str, u64); 2] {
    [("full", counts.snapshots_full), ("delta", counts.snapshots_delta)]
}

/// `backlog`: skipped at the tick, more than two waiting; `queue_full`: dropped on arrival, eight already queued.
/// (What the rate limit drops is `skirmish_messages_rate_limited_total`: it is not only inputs.)
fn input_rejections(counts: &RoomCounts) -> [(&'static str, u64); 2] {
    [("backlog", counts.inputs_skipped), ("queue_full", counts.inputs_queue_full)]
}

fn resume_outcomes(counts: &RoomCounts) -> [(&'static str, u64); 3] {
    [("taken", counts.resumes), ("refused", counts.resumes_refused), ("expired", counts.resumes_expired)]
}

/// Writes families of constant values through prometheus-client's encoder: one descriptor (`# HELP`, `# TYPE`)
/// each, then one sample (or histogram) per label set.
struct Families<'a, 'b>(&'a mut DescriptorEncoder<'b>);

impl Families<'_, '_> {
    fn counter(&mut self, name: &str, help: &str, unit: Option<&Unit>, value: u64) -> std::fmt::Result {
        let metric = self.0.encode_descriptor(name, help, unit, MetricType::Counter)?;
        ConstCounter::new(value).encode(metric)
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) -> std::fmt::Result {
        let metric = self.0.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(value).encode(metric)
    }

    fn counters<L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        series: impl IntoIterator<Item = (L, u64)>,
    ) -> std::fmt::Result {
        let mut metric = self.0.encode_descriptor(name, help, unit, MetricType::Counter)?;
        for (labels, value) in series {
            ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn gauges<L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (L, u64)>,
    ) -> std::fmt::Result {
        let mut metric = self.0.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in series {
            ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// An info family (`NAME_info{...} 1`): `labels` name the series, `info` are what it tells.
    fn infos<L: EncodeLabelSet, I: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (L, I)>,
    ) -> std::fmt::Result {
        let mut metric = self.0.encode_descriptor(name, help, None, MetricType::Info)?;
        for (labels, info) in series {
            metric.encode_family(&labels)?.encode_info(&info)?;
        }
        Ok(())
    }

    /// Tick-duration histograms in seconds (`NAME_seconds`), from buckets counted in microseconds.
    fn histograms<'t, L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (L, &'t TickBuckets)>,
    ) -> std::fmt::Result {
        let mut metric = self.0.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        for (labels, ticks) in series {
            encode_ticks(metric.encode_family(&labels)?, ticks)?;
        }
        Ok(())
    }
}

/// One histogram; the encoder wants each bucket's own count (it accumulates them) and adds `+Inf` itself.
fn encode_ticks(mut metric: MetricEncoder<'_>, ticks: &TickBuckets) -> std::fmt::Result {
    let mut below = 0;
    let buckets: Vec<(f64, u64)> = TICK_BOUNDS_MICROS
        .iter()
        .zip(ticks.at_most)
        .map(|(&bound, at_most)| {
            let own = at_most.saturating_sub(below);
            below = at_most;
            (bound as f64 / 1e6, own)
        })
        .collect();
    metric.encode_histogram::<NoLabelSet>(ticks.sum_micros as f64 / 1e6, ticks.count, &buckets, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One room's tick histogram, through the real registry and encoder.
    #[derive(Debug)]
    struct OneHistogram(TickBuckets);

    impl Collector for OneHistogram {
        fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
            Families(&mut encoder).histograms("room_tick_duration", "Ticks.", [([("room", "r1")], &self.0)])
        }
    }

    #[test]
    fn tick_buckets_become_cumulative_seconds() {
        let mut histogram = crate::metrics::Histogram::default();
        for micros in [300, 400, 1_500, 30_000, 250_000] {
            histogram.record(micros);
        }
        let mut registry = Registry::with_prefix("skirmish");
        registry.register_collector(Box::new(OneHistogram(TickBuckets::of(&histogram))));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        for line in [
            "# TYPE skirmish_room_tick_duration_seconds histogram",
            "skirmish_room_tick_duration_seconds_bucket{room=\"r1\",le=\"0.0005\"} 2",
            "skirmish_room_tick_duration_seconds_bucket{room=\"r1\",le=\"0.002\"} 3",
            "skirmish_room_tick_duration_seconds_bucket{room=\"r1\",le=\"0.033\"} 4",
            "skirmish_room_tick_duration_seconds_bucket{room=\"r1\",le=\"0.1\"} 4",
            "skirmish_room_tick_duration_seconds_bucket{room=\"r1\",le=\"+Inf\"} 5",
            "skirmish_room_tick_duration_seconds_sum{room=\"r1\"} 0.2822",
            "skirmish_room_tick_duration_seconds_count{room=\"r1\"} 5",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
