//! Replication, the send stage of a tick: for each client, the snapshot against its acknowledged baseline, handed
//! to its outbox without waiting. The body (`created, changed, removed, events`) is shared: by every client with
//! the same baseline, or with interest management by every client of the same cell with the same baseline cell and
//! tick. Only the head and the tail (hits, own velocity) are the client's own.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::debug;

use super::{Client, Part, Room, SNAPSHOT_HEAD_BYTES};
use crate::codec;
use crate::config::HISTORY_TICKS;
use crate::interest::{Cell, CellIndex, InterestGrid};
use crate::link::{CloseReason, DisconnectReason, Outgoing, OwnBytes};
use crate::protocol::{player_field, EntityKind, Hit, RosterEntry, ServerMessage};
use crate::snapshot::{DeltaWriter, EventLog, View, WorldSnapshot};

impl Room {
    pub(super) fn send_snapshots(&mut self, current: &WorldSnapshot) {
        let tick = current.tick;
        let tick_rate = self.tick_rate;
        self.delta_writer.begin_tick(current);
        if let Some(interest) = &mut self.interest {
            interest.begin_tick(current, self.world.rules().dt);
        }
        // Writers may still hold last tick's bodies; each tick encodes fresh ones.
        self.bodies.clear();
        let mut totals = SendTotals::default();
        // Each client's own head and tail are encoded here, then kept inline in its frame.
        let mut own = Vec::with_capacity(SNAPSHOT_HEAD_BYTES);
        // Hits are kept as long as events (64 ticks), then forgotten.
        let oldest_kept = tick.saturating_sub(HISTORY_TICKS as u32 - 1);
        for (_, client) in self.clients.iter_mut() {
            while client.hits.front().is_some_and(|hit| hit.tick < oldest_kept) {
                client.hits.pop_front();
            }
            // A held seat has no socket to send to; its history waits for the resume.
            if client.link.is_none() {
                continue;
            }
            // Everyone-in-view rooms encode a body per baseline tick, cheap enough without the grid's extra ticks.
            let grid = if self.interest.is_some() { BASELINE_GRID } else { 1 };
            let preferred = baseline_for(client, grid);
            // A full snapshot when there is no acknowledgement or it fell out of the history.
            let mut baseline = match self.history.get(preferred) {
                Some(_) => preferred,
                None => 0,
            };
            let own_id = match client.part {
                Part::Player(player) => Some(player.wire_id()),
                Part::Spectator { .. } => None,
            };
            let body = match &mut self.interest {
                // Everyone sees everyone: clients sharing a baseline share one encoded body, sent without a copy.
                None => match self.bodies.iter().find(|(b, _)| *b == baseline) {
                    Some((_, body)) => body.clone(),
                    None => {
                        let body = &mut self.body_scratch;
                        body.clear();
                        let base = self.history.get(baseline).map(|b| View::all(b));
                        self.delta_writer.write(body, base, View::all(current), tick_rate);
                        write_events(body, &self.events, base.map_or(0, |base| base.tick()), tick);
                        let body = Bytes::copy_from_slice(body);
                        self.bodies.push((baseline, body.clone()));
                        body
                    }
                },
                // Each client sees the cells around its own, diffed against the cells it saw at its baseline; every
                // client in the same cell with the same baseline cell and tick shares the body.
                Some(interest) => {
                    let index_of = |id: u32| current.entities.binary_search_by_key(&id, |e| e.id).ok();
                    // A player's view centres on itself; a spectator's on whom it follows, or its camera.
                    let centre = match client.part {
                        Part::Player(player) => {
                            let Some(own) = index_of(player.wire_id()) else { continue };
                            interest.grid.position(own)
                        }
                        Part::Spectator { follow, camera } => {
                            // Only a player can be followed; any other id leaves the camera in charge.
                            let followed = (follow != 0)
                                .then(|| index_of(follow))
                                .flatten()
                                .filter(|&index| current.entities[index].kind == EntityKind::Player);
                            followed.map_or(camera, |index| interest.grid.position(index))
                        }
                    };
                    let viewer = interest.grid.view_cell(client.views.latest(), centre);
                    let seen = client.views.at(baseline).filter(|_| baseline != 0);
                    if seen.is_none() {
                        baseline = 0;
                    }
                    client.views.pending = Some(viewer);
                    let base = seen.and_then(|cell| Some((self.history.get(baseline)?, cell)));
                    let encoder = (&mut self.delta_writer, &mut self.body_scratch);
                    interest.body(base, (current, viewer), encoder, &self.events, tick_rate)
                }
            };
            own.clear();
            codec::encode_snapshot_header(&mut own, tick, baseline, client.last_applied_seq);
            let body_at = own.len();
            write_hits(&mut own, &client.hits, self.history.get(baseline).map_or(0, |base| base.tick));
            write_own(&mut own, own_id.and_then(|id| current.velocity_rest(id)));
            let outgoing = Outgoing::Split { own: OwnBytes::from(&own[..]), body_at, body };
            if deliver(client, outgoing, tick, self.slow_client_ticks, self.tick_rate, &mut totals) {
                // Counted here, where the baseline is final (interest management may have fallen back to full).
                match baseline {
                    0 => totals.full += 1,
                    _ => totals.delta += 1,
                }
                if let Some(viewer) = client.views.pending.take() {
                    client.views.record(tick, viewer, baseline);
                }
                client.last_baseline = baseline;
            }
        }
        self.send_rosters(current);
        self.forget_unreachable_ticks();
        self.stats.frames_sent.fetch_add(totals.sent, Ordering::Relaxed);
        self.stats.snapshots_full.fetch_add(totals.full, Ordering::Relaxed);
        self.stats.snapshots_delta.fetch_add(totals.delta, Ordering::Relaxed);
        self.stats.frames_dropped.fetch_add(totals.dropped, Ordering::Relaxed);
        self.stats.bytes_sent.fetch_add(totals.bytes, Ordering::Relaxed);
        self.stats.slow_clients_closed.fetch_add(totals.slow_closed, Ordering::Relaxed);
    }

    /// Drops the history below the oldest tick any client, held seats included, could still get a delta against:
    /// `baseline_for` never goes below a client's newest acknowledgement less the grid's span, and a client that
    /// has acknowledged nothing can only acknowledge ticks from its attachment on. When every client acknowledges
    /// promptly the room keeps a round trip's worth of ticks instead of all 64 (at 1,000 players, 5 MB less); one
    /// that lags still has its baseline kept, for as long as the 64-tick history reaches.
    fn forget_unreachable_ticks(&mut self) {
        let span = if self.interest.is_some() { BASELINE_GRID - 1 } else { 0 };
        let reachable = |client: &Client| match client.acked_tick {
            0 => client.attached_tick,
            acked => acked.saturating_sub(span),
        };
        let Some(oldest) = self.clients.iter().map(|(_, client)| reachable(client)).min() else { return };
        self.history.forget_before(oldest);
        if let Some(interest) = &mut self.interest {
            interest.forget_before(oldest);
        }
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

/// Appends the `own` element: what rounding took off the player's velocity, `[]` for a spectator.
fn write_own(out: &mut Vec<u8>, rest: Option<[i32; 2]>) {
    let rest = rest.as_ref().map_or(&[][..], |rest| &rest[..]);
    let _ = rmp::encode::write_array_len(out, rest.len() as u32);
    for &value in rest {
        let _ = rmp::encode::write_sint(out, i64::from(value));
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

/// With interest management, baseline ticks are preferred on this grid: clients of a cell whose acknowledgements are
/// spread over a few ticks then share one baseline, so the room encodes a body per cell and grid tick instead of one
/// per cell and acknowledged tick (at 1,000 players in view of 800: 135-211 bodies a tick instead of 400-600).
const BASELINE_GRID: u32 = 4;

/// The tick a client's next delta is encoded against: the newest tick on the baseline grid, within the grid's span of
/// its newest acknowledgement, that it acknowledged and that is no older than the baseline of the last frame it was
/// sent; else its newest acknowledgement. A client keeps every state it acknowledged from its last delta's baseline
/// on (PROTOCOL.md 7.1), so any of them will do; the price is up to `grid - 1` ticks more in a delta.
fn baseline_for(client: &Client, grid: u32) -> u32 {
    let newest = client.acked_tick;
    for back in 0..grid.min(newest) {
        let tick = newest - back;
        let acknowledged = client.acked_recent & (1 << back) != 0;
        if tick.is_multiple_of(grid) && acknowledged && tick >= client.last_baseline {
            return tick;
        }
    }
    newest
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

/// The cell a client's view was made of at each recent tick it was sent, when interest management is on: the
/// baseline of a delta is the view of that cell at that tick.
#[derive(Debug, Default)]
pub(super) struct SeenHistory {
    ticks: VecDeque<(u32, Cell)>,
    /// The view cell of the frame being sent this tick, recorded once it is queued.
    pending: Option<Cell>,
}

impl SeenHistory {
    pub(super) fn at(&self, tick: u32) -> Option<Cell> {
        self.ticks.iter().rev().find(|(t, _)| *t == tick).map(|(_, cell)| *cell)
    }

    /// The cell of the newest view sent.
    pub(super) fn latest(&self) -> Option<Cell> {
        self.ticks.back().map(|(_, cell)| *cell)
    }

    /// Records the view sent at `tick` against `baseline`; views older than that baseline can never be one again
    /// (baselines only move forward, `baseline_for`).
    fn record(&mut self, tick: u32, cell: Cell, baseline: u32) {
        while self.ticks.front().is_some_and(|(t, _)| *t < baseline) || self.ticks.len() >= HISTORY_TICKS {
            self.ticks.pop_front();
        }
        self.ticks.push_back((tick, cell));
    }
}

/// Ticks whose cell views are kept once computed: the baselines of nearly every delta are this recent.
const CACHED_VIEW_TICKS: usize = 8;

/// The views of one tick, by cell, computed on first use.
#[derive(Debug, Default)]
struct TickViews {
    tick: u32,
    /// The tick's entities by cell.
    index: CellIndex,
    /// By cell: the index in `lists` + 1, 0 while not computed.
    slot_of: Vec<u32>,
    lists: Vec<Vec<u32>>,
    used: usize,
}

/// Interest management state of the room (present when a view radius is set).
#[derive(Debug)]
pub(super) struct Interest {
    grid: InterestGrid,
    /// Each entity's cell at each recent tick (by index in that tick's snapshot), newest last.
    cells: VecDeque<(u32, Vec<Cell>)>,
    /// Buffers of forgotten ticks' cells, for the next ticks.
    spare_cells: Vec<Vec<Cell>>,
    views: VecDeque<TickViews>,
    /// This tick's bodies by (baseline cell, cell, baseline tick); baseline cell `u32::MAX` for full snapshots.
    bodies: HashMap<(Cell, Cell, u32), Bytes>,
    /// This tick's encoded event lists, by the tick they start after (one per baseline tick in use).
    events: Vec<(u32, Vec<u8>)>,
    scratch: (Vec<u32>, Vec<u32>),
    /// Scratch bitset of the view queries.
    words: Vec<u64>,
}

impl Interest {
    pub(super) fn new(width: i32, height: i32, radius: f32) -> Interest {
        Interest {
            grid: InterestGrid::new(width, height, radius),
            cells: VecDeque::with_capacity(HISTORY_TICKS),
            spare_cells: Vec::new(),
            views: VecDeque::with_capacity(CACHED_VIEW_TICKS),
            bodies: HashMap::new(),
            events: Vec::new(),
            scratch: (Vec::new(), Vec::new()),
            words: Vec::new(),
        }
    }

    fn begin_tick(&mut self, current: &WorldSnapshot, dt: f32) {
        self.grid.rebuild(current, dt);
        let mut cells = match self.cells.len() >= HISTORY_TICKS {
            true => self.cells.pop_front().map(|(_, cells)| cells).unwrap_or_default(),
            false => self.spare_cells.pop().unwrap_or_default(),
        };
        cells.clear();
        cells.extend_from_slice(self.grid.cells());
        self.cells.push_back((current.tick, cells));
        let mut views = match self.views.len() >= CACHED_VIEW_TICKS {
            true => self.views.pop_front().unwrap_or_default(),
            false => TickViews::default(),
        };
        views.tick = current.tick;
        self.grid.index(self.grid.cells(), &mut views.index);
        views.slot_of.clear();
        views.slot_of.resize(self.grid.cell_count(), 0);
        views.used = 0;
        self.views.push_back(views);
        self.bodies.clear();
        self.events.clear();
    }

    /// Drops the cells of ticks older than `tick` (as the snapshot history does), always keeping the newest.
    fn forget_before(&mut self, tick: u32) {
        while self.cells.len() > 1 && self.cells.front().is_some_and(|(t, _)| *t < tick) {
            let forgotten = self.cells.pop_front().map(|(_, cells)| cells);
            // One tick is forgotten per tick in the steady state: its buffer serves the next one.
            if let Some(cells) = forgotten.filter(|_| self.spare_cells.len() < 2) {
                self.spare_cells.push(cells);
            }
        }
    }

    /// The body (`created, changed, removed, events`) of a client in cell `viewer` of `current` whose baseline is
    /// the view of cell `base.1` in snapshot `base.0` (a full snapshot without one), encoded with the room's writer
    /// into its scratch buffer and copied out at its size.
    fn body(
        &mut self,
        base: Option<(&Arc<WorldSnapshot>, Cell)>,
        (current, viewer): (&WorldSnapshot, Cell),
        (writer, body): (&mut DeltaWriter, &mut Vec<u8>),
        events: &EventLog,
        tick_rate: u32,
    ) -> Bytes {
        let key = match base {
            Some((snapshot, cell)) => (cell, viewer, snapshot.tick),
            None => (u32::MAX, viewer, 0),
        };
        if let Some(body) = self.bodies.get(&key) {
            return body.clone();
        }
        let (mut seen_before, mut seen_now) = std::mem::take(&mut self.scratch);
        self.view(current.tick, viewer, &mut seen_now);
        let base_view = match base {
            Some((snapshot, cell)) => {
                self.view(snapshot.tick, cell, &mut seen_before);
                Some(View::subset(snapshot, &seen_before))
            }
            None => None,
        };
        body.clear();
        writer.write(body, base_view, View::subset(current, &seen_now), tick_rate);
        // Events are not filtered by interest: every body with the same baseline tick carries the same list.
        let after = base_view.map_or(0, |base| base.tick());
        let encoded = match self.events.iter().position(|(tick, _)| *tick == after) {
            Some(slot) => &self.events[slot].1,
            None => {
                let mut encoded = Vec::new();
                write_events(&mut encoded, events, after, current.tick);
                self.events.push((after, encoded));
                &self.events[self.events.len() - 1].1
            }
        };
        body.extend_from_slice(encoded);
        self.scratch = (seen_before, seen_now);
        let body = Bytes::copy_from_slice(body);
        self.bodies.insert(key, body.clone());
        body
    }

    /// The entities in the view of `cell` at `tick` (a tick still in the cells' history), ascending.
    fn view(&mut self, tick: u32, cell: Cell, out: &mut Vec<u32>) {
        let Some(views) = self.views.iter_mut().find(|views| views.tick == tick) else {
            // An old baseline: computed, not kept.
            if let Some((_, cells)) = self.cells.iter().find(|(t, _)| *t == tick) {
                self.grid.view(cells, cell, out);
            } else {
                out.clear();
            }
            return;
        };
        let slot = views.slot_of[cell as usize];
        if slot == 0 {
            if views.used == views.lists.len() {
                views.lists.push(Vec::new());
            }
            self.grid.view_of_index(&views.index, cell, &mut self.words, &mut views.lists[views.used]);
            views.used += 1;
            views.slot_of[cell as usize] = views.used as u32;
        }
        let list = &views.lists[views.slot_of[cell as usize] as usize - 1];
        out.clear();
        out.extend_from_slice(list);
    }
}
