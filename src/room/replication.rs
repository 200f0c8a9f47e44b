//! Replication, the send stage of a tick: for each client, the snapshot against its acknowledged baseline (a body
//! shared by every client with the same baseline, or with interest management the client's own view against what
//! it saw then), handed to its outbox without waiting.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::debug;

use super::{Client, Part, Room, SNAPSHOT_HEAD_BYTES};
use crate::codec;
use crate::config::HISTORY_TICKS;
use crate::interest::InterestGrid;
use crate::link::{CloseReason, DisconnectReason, Outgoing};
use crate::protocol::{player_field, EntityKind, Hit, RosterEntry, ServerMessage};
use crate::snapshot::{self, EventLog, SharedRecords, View, WorldSnapshot};

impl Room {
    pub(super) fn send_snapshots(&mut self, current: &WorldSnapshot) {
        let tick = current.tick;
        if let Some(interest) = &mut self.interest {
            interest.grid.rebuild(current, self.world.rules().dt);
            interest.records.begin_tick(current);
            interest.events.clear();
        }
        // Writers may still hold last tick's bodies; each tick encodes fresh ones.
        self.bodies.clear();
        let mut totals = SendTotals::default();
        // Hits no baseline can reach any more are forgotten, as the event log forgets events.
        let oldest_kept = self.history.oldest_tick().unwrap_or(0);
        for (_, client) in self.clients.iter_mut() {
            while client.hits.front().is_some_and(|hit| hit.tick < oldest_kept) {
                client.hits.pop_front();
            }
            // A held seat has no socket to send to; its history waits for the resume.
            if client.link.is_none() {
                continue;
            }
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
                    let mut own = Vec::with_capacity(SNAPSHOT_HEAD_BYTES);
                    codec::encode_snapshot_header(&mut own, tick, baseline, client.last_applied_seq);
                    let body_at = own.len();
                    write_hits(&mut own, &client.hits, baseline);
                    Outgoing::Split { own, body_at, body }
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
                            // Only a player can be followed; any other id leaves the camera in charge.
                            let followed = (follow != 0)
                                .then(|| index_of(follow))
                                .flatten()
                                .filter(|&index| current.entities[index].kind == EntityKind::Player);
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
                    write_hits(&mut frame, &client.hits, events_after);
                    interest.frame_capacity = frame.len() + frame.len() / 4 + 32;
                    client.views.pending = Some(visible);
                    Outgoing::Message(frame)
                }
            };
            if deliver(client, outgoing, tick, self.slow_client_ticks, self.tick_rate, &mut totals) {
                // Counted here, where the baseline is final (interest management may have fallen back to full).
                match baseline {
                    0 => totals.full += 1,
                    _ => totals.delta += 1,
                }
                if let Some(visible) = client.views.pending.take() {
                    client.views.record(tick, visible, client.acked_tick);
                }
            }
        }
        self.send_rosters(current);
        self.stats.frames_sent.fetch_add(totals.sent, Ordering::Relaxed);
        self.stats.snapshots_full.fetch_add(totals.full, Ordering::Relaxed);
        self.stats.snapshots_delta.fetch_add(totals.delta, Ordering::Relaxed);
        self.stats.frames_dropped.fetch_add(totals.dropped, Ordering::Relaxed);
        self.stats.bytes_sent.fetch_add(totals.bytes, Ordering::Relaxed);
        self.stats.slow_clients_closed.fetch_add(totals.slow_closed, Ordering::Relaxed);
    }

    /// Sends each spectator that is due one the room's roster: right after it joined, then once a second. Encoded
    /// once per tick for all of them; a spectator whose outbox is full stays due and gets it at the next tick.
    fn send_rosters(&mut self, current: &WorldSnapshot) {
        // Most rooms have no spectator: no walk over every client each tick for them.
        if self.spectators == 0 {
            return;
        }
        let second_over = current.tick.is_multiple_of(self.tick_rate);
        let mut roster: Option<Vec<u8>> = None;
        for (_, client) in self.clients.iter_mut() {
            if !matches!(client.part, Part::Spectator { .. }) || !(client.roster_due || second_over) {
                continue;
            }
            let bytes = roster.get_or_insert_with(|| codec::encode_server(&roster_message(current)));
            let Some(link) = &client.link else { continue };
            client.roster_due = link.outbox.try_send(Outgoing::Message(bytes.clone())).is_err();
        }
    }
}

/// Every player of `current`, by id.
fn roster_message(current: &WorldSnapshot) -> ServerMessage {
    let players = current
        .entities
        .iter()
        .filter(|entity| entity.kind == EntityKind::Player)
        .map(|entity| RosterEntry {
            id: entity.id,
            name: entity.name.as_deref().unwrap_or_default().to_string(),
            score: entity.fields[player_field::SCORE],
            hp: entity.fields[player_field::HP],
        })
        .collect();
    ServerMessage::Roster { tick: current.tick, players }
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

/// Appends the client's hit confirmations after tick `after` (the snapshot's last element; all kept ones for a
/// full snapshot, whose `after` is 0).
fn write_hits(out: &mut Vec<u8>, hits: &VecDeque<Hit>, after: u32) {
    let start = hits.partition_point(|hit| hit.tick <= after);
    let _ = rmp::encode::write_array_len(out, (hits.len() - start) as u32);
    for hit in hits.range(start..) {
        let _ = rmp::encode::write_array_len(out, 2);
        let _ = rmp::encode::write_uint(out, u64::from(hit.tick));
        let _ = rmp::encode::write_uint(out, u64::from(hit.victim));
    }
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
    /// Of `sent`: snapshots without a baseline, and deltas.
    full: u64,
    delta: u64,
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
    let Some(link) = &client.link else { return false };
    match link.outbox.try_send(frame) {
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
                link.close(CloseReason::new(DisconnectReason::SlowClient, reason));
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
pub(super) struct SeenHistory {
    ticks: VecDeque<(u32, Vec<u32>)>,
    /// The view of the frame being sent this tick, recorded once it is queued.
    pending: Option<Vec<u32>>,
}

impl SeenHistory {
    pub(super) fn at(&self, tick: u32) -> Option<&[u32]> {
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
pub(super) struct Interest {
    grid: InterestGrid,
    /// Each entity's records, encoded once per tick and shared by every client that sees it.
    records: SharedRecords,
    /// Bytes to reserve for the next client's frame: a little over the last one, so most frames never regrow.
    frame_capacity: usize,
    /// This tick's encoded event lists, by the tick they start after.
    events: Vec<(u32, Vec<u8>)>,
}

impl Interest {
    pub(super) fn new(width: i32, height: i32, radius: f32) -> Interest {
        Interest {
            grid: InterestGrid::new(width, height, radius),
            records: SharedRecords::default(),
            frame_capacity: 256,
            events: Vec::new(),
        }
    }
}
