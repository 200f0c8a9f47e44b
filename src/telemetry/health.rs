//! `/healthz` (and the dashboard's `/dashboard/data`): the census as JSON, for humans, the loadbench and the
//! dashboard. Typed structs, serialized by serde; the keys and their meanings are the ones `/healthz` always had
//! (the top-level counters are sums over the open rooms), and what came later is only added: `totals`, since the
//! process started and closed rooms included, the same numbers as `/metrics`'s process-wide counters.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::link::DisconnectReason;
use crate::telemetry::census::{Census, RoomCounts, RoomReading};

/// All a load balancer needs, and all `/healthz` says without the metrics token when one is set.
#[derive(Debug, Serialize)]
pub struct Status {
    pub status: &'static str,
}

impl Status {
    pub const OK: Status = Status { status: "ok" };
}

/// The full `/healthz`.
#[derive(Debug, Serialize)]
pub struct Health<'a> {
    pub status: &'static str,
    pub rooms_open: usize,
    pub max_rooms: u64,
    pub room_panics: u64,
    /// Sums over the open rooms (a room that closes takes its share with it; see `totals` for what does not).
    pub players: u64,
    pub spectators: u64,
    pub held_seats: u64,
    pub resumes: u64,
    pub resumes_refused: u64,
    pub resumes_expired: u64,
    pub chat_lines: u64,
    /// The edge: connections and WebSockets open now, the rest counted since the process started.
    pub connections: u64,
    pub websockets: u64,
    pub violations: u64,
    pub messages_dropped: u64,
    pub connections_refused: u64,
    pub frames_received: u64,
    pub bytes_received: u64,
    /// Sums and maxima over the open rooms.
    pub tick_overruns: u64,
    pub tick_slots_skipped: u64,
    pub frames_sent: u64,
    pub frames_dropped: u64,
    pub bytes_sent: u64,
    pub worst_tick_micros_p99: u64,
    pub worst_max_tick_micros: u64,
    pub disconnects: Disconnects<'a>,
    pub totals: Totals,
    /// Present when rooms are recorded (`--record`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<crate::telemetry::census::RecordingReading>,
    /// With `--redis`: this process in the shared room directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<crate::telemetry::census::DirectoryReading>,
    pub rooms: Vec<RoomHealth<'a>>,
}

/// Every room counter since the process started, closed rooms included.
#[derive(Debug, Serialize)]
pub struct Totals {
    pub rooms_opened: u64,
    pub rooms_closed: u64,
    #[serde(flatten)]
    pub counts: RoomCounts,
}

/// One open room.
#[derive(Debug, Serialize)]
pub struct RoomHealth<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub map: &'a str,
    pub private: bool,
    pub tick: u32,
    pub tick_rate: u32,
    pub players: u32,
    pub spectators: u32,
    pub max_players: usize,
    pub max_spectators: usize,
    pub held_seats: u32,
    #[serde(flatten)]
    pub counts: RoomCounts,
    pub last_tick_micros: u64,
    pub max_tick_micros: u64,
    pub tick_micros_p50: u64,
    pub tick_micros_p99: u64,
}

/// Disconnects as an object from each reason's name to its count, every reason present, in declaration order.
#[derive(Debug)]
pub struct Disconnects<'a>(&'a [(DisconnectReason, u64)]);

impl Serialize for Disconnects<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (reason, count) in self.0 {
            map.serialize_entry(reason.name(), count)?;
        }
        map.end()
    }
}

impl<'a> RoomHealth<'a> {
    fn of(room: &'a RoomReading) -> RoomHealth<'a> {
        let entry = &room.entry;
        RoomHealth {
            id: &entry.id,
            name: &entry.name,
            map: &entry.map,
            private: entry.private,
            tick: room.tick,
            tick_rate: entry.tick_rate,
            players: room.players,
            spectators: room.spectators,
            max_players: entry.max_players,
            max_spectators: entry.max_spectators,
            held_seats: room.held_seats,
            counts: room.counts,
            last_tick_micros: room.last_tick_micros,
            max_tick_micros: room.max_tick_micros,
            tick_micros_p50: room.tick_micros_p50,
            tick_micros_p99: room.tick_micros_p99,
        }
    }
}

impl<'a> Health<'a> {
    pub fn of(census: &'a Census) -> Health<'a> {
        let edge = &census.edge;
        Health {
            status: Status::OK.status,
            rooms_open: census.rooms.len(),
            max_rooms: census.max_rooms,
            room_panics: census.room_panics,
            players: census.sum(|room| room.players.into()),
            spectators: census.sum(|room| room.spectators.into()),
            held_seats: census.sum(|room| room.held_seats.into()),
            resumes: census.sum(|room| room.counts.resumes),
            resumes_refused: census.sum(|room| room.counts.resumes_refused),
            resumes_expired: census.sum(|room| room.counts.resumes_expired),
            chat_lines: census.sum(|room| room.counts.chat_lines),
            connections: edge.connections,
            websockets: edge.websockets,
            violations: edge.violations,
            messages_dropped: edge.messages_dropped,
            connections_refused: edge.connections_refused,
            frames_received: edge.frames_received,
            bytes_received: edge.bytes_received,
            tick_overruns: census.sum(|room| room.counts.tick_overruns),
            tick_slots_skipped: census.sum(|room| room.counts.tick_slots_skipped),
            frames_sent: census.sum(|room| room.counts.frames_sent),
            frames_dropped: census.sum(|room| room.counts.frames_dropped),
            bytes_sent: census.sum(|room| room.counts.bytes_sent),
            worst_tick_micros_p99: census.worst(|room| room.tick_micros_p99),
            worst_max_tick_micros: census.worst(|room| room.max_tick_micros),
            disconnects: Disconnects(&edge.disconnects),
            totals: Totals {
                rooms_opened: census.rooms_opened,
                rooms_closed: census.rooms_closed,
                counts: census.totals,
            },
            recording: census.recording,
            directory: census.directory.clone(),
            rooms: census.rooms.iter().map(RoomHealth::of).collect(),
        }
    }
}
