//! The room's side of a recording: every call the room makes into its world goes through the `Journal`, which
//! makes the call and notes what it did, and at the end of each tick hands the tick's frame to the file's queue.
//!
//! Recording at the world's door rather than at the room's: the network commands (joins refused for a full room,
//! inputs dropped from a backlog, acknowledgements, chat) are the room's business, and replaying them would mean
//! replaying the room; the world's calls are all that moves the simulation, so they alone make a replay exact.
//!
//! The journal is pure: no clock, no I/O, no waiting (the sink only `try_send`s). A room that records nothing has a
//! journal that is off, and then each call is the world's call and one branch.

use tracing::info;

use crate::room::RoomEnd;
use crate::sim::{PlayerId, PlayerInput, World};
use crate::snapshot::WorldSnapshot;

use super::format::{state_hash, Check, EndReason, EntityRecord, Frame, Op, TickFrame, WireInput};
use super::writer::FileSink;

/// See the module docs.
#[derive(Debug)]
pub struct Journal {
    sink: Option<FileSink>,
    /// The calls of the tick in progress.
    ops: Vec<Op>,
    checksum_every: u32,
    state_every: u32,
}

impl Journal {
    /// A journal that records nothing.
    pub fn off() -> Journal {
        Journal { sink: None, ops: Vec::new(), checksum_every: 1, state_every: 1 }
    }

    /// Records into `sink`, whose header is already queued, with a checksum every `checksum_every` ticks and the
    /// full state at every `state_every`-th of them (as the header says).
    pub fn new(sink: FileSink, checksum_every: u32, state_every: u32) -> Journal {
        Journal {
            sink: Some(sink),
            ops: Vec::new(),
            checksum_every: checksum_every.max(1),
            state_every: state_every.max(1),
        }
    }

    /// Whether calls are being recorded (false when off, and once the file has ended).
    pub fn is_recording(&self) -> bool {
        self.sink.as_ref().is_some_and(FileSink::is_open)
    }

    /// The recording's sink, if any (its path and size).
    pub fn sink(&self) -> Option<&FileSink> {
        self.sink.as_ref()
    }

    /// `World::add_player`.
    pub fn add_player(&mut self, world: &mut World, name: &str) -> PlayerId {
        let id = world.add_player(name);
        if self.is_recording() {
            self.ops.push(Op::Join { id: id.wire_id(), generation: id.generation, name: name.to_string() });
        }
        id
    }

    /// `World::remove_player`.
    pub fn remove_player(&mut self, world: &mut World, id: PlayerId) -> bool {
        let removed = world.remove_player(id);
        if removed && self.is_recording() {
            self.ops.push(Op::Leave { id: id.wire_id() });
        }
        removed
    }

    /// `World::set_input` with the input the room derives from `input`. Noted only when it changes the input the
    /// world holds: the room sets one every tick a client sent one, mostly the same as before, and a call that
    /// changes nothing can be left out of a replay. Compared with the world's own copy, not with the room's last
    /// call, because the world also resets a player's input itself (on respawn).
    pub fn set_input(&mut self, world: &mut World, id: PlayerId, input: WireInput) -> bool {
        let new = input.player_input();
        let changes =
            self.is_recording() && world.player(id).is_some_and(|player| !same_input(player.input, new.sanitized()));
        let applied = world.set_input(id, new);
        if changes && applied {
            self.ops.push(Op::Input { id: id.wire_id(), input });
        }
        applied
    }

    /// `World::set_disconnected`.
    pub fn set_disconnected(&mut self, world: &mut World, id: PlayerId, disconnected: bool) -> bool {
        let applied = world.set_disconnected(id, disconnected);
        if applied && self.is_recording() {
            self.ops.push(Op::Flag { id: id.wire_id(), disconnected });
        }
        applied
    }

    /// Closes the tick the world just stepped to (`snapshot` is its capture): queues the tick's calls, with the
    /// checksum when one is due.
    pub fn end_tick(&mut self, snapshot: &WorldSnapshot) {
        let Some(sink) = self.sink.as_mut().filter(|sink| sink.is_open()) else {
            self.ops.clear();
            return;
        };
        let tick = snapshot.tick;
        let check = tick.is_multiple_of(self.checksum_every).then(|| Check {
            hash: state_hash(snapshot),
            state: (tick / self.checksum_every).is_multiple_of(self.state_every).then(|| EntityRecord::all(snapshot)),
        });
        let frame = Frame::Tick(TickFrame { tick, ops: std::mem::take(&mut self.ops), check });
        let mut bytes = Vec::with_capacity(64);
        frame.encode(&mut bytes);
        // Keep the allocation of the operations for the next tick.
        if let Frame::Tick(TickFrame { mut ops, .. }) = frame {
            ops.clear();
            self.ops = ops;
        }
        sink.push(bytes);
    }

    /// Ends the recording as the room ends. Calls made after the last tick never reached a stepped world and are
    /// left out.
    pub fn finish(&mut self, end: RoomEnd, last_tick: u32) {
        self.ops.clear();
        if let Some(sink) = &mut self.sink {
            let (reason, why) = match end {
                RoomEnd::Empty => (EndReason::RoomClosed, "the room closed, empty"),
                RoomEnd::Shutdown => (EndReason::Shutdown, "the server shut down"),
            };
            let recorded = sink.is_open();
            sink.end(reason, format!("{why} after tick {last_tick}"));
            if recorded {
                info!(path = %sink.path().display(), bytes = sink.written(), last_tick, "recording ended");
            }
        }
    }
}

/// Bit for bit: the replay must make exactly the calls that changed something.
fn same_input(a: PlayerInput, b: PlayerInput) -> bool {
    a.movement.x.to_bits() == b.movement.x.to_bits()
        && a.movement.y.to_bits() == b.movement.y.to_bits()
        && a.aim == b.aim
        && a.fire == b.fire
        // An input that changes only its rewind changes which shots hit: it must be recorded too.
        && a.rewind.to_bits() == b.rewind.to_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_that_changes_only_its_rewind_is_a_change() {
        let input = PlayerInput { movement: glam::Vec2::X, aim: 7, fire: true, rewind: 0.0 };
        assert!(same_input(input, input));
        assert!(!same_input(input, PlayerInput { rewind: 3.0, ..input }), "the rewind decides hits: record it");
        assert!(!same_input(input, PlayerInput { aim: 8, ..input }));
    }
}
