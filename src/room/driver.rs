//! The room's driver, the only clock a room has: it runs `Room::tick` at the room's rate in real time, takes
//! commands once per tick, closes the room when it has been empty for its grace, and counts overruns.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};
use tracing::{info, warn};

use super::{JoinRefused, Room, RoomCommand, RoomEnd};
use crate::link::{CloseReason, DisconnectReason};

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
        // Rooms whose ticks fall due together are woken together onto one pool thread, the latest woken first and
        // out of reach of the other threads until that one finishes. Yielding once puts this room at the back of
        // the queue, where the others may run first or be stolen, so that a heavy tick never holds up a light one
        // that was due at the same moment (measured in tests/room_pool.rs).
        tokio::task::yield_now().await;
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
            room.journal.finish(RoomEnd::Empty, tick);
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
    room.journal.finish(end, room.world.tick());
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
