//! Where every player stood over the last few ticks: the memory lag compensation rewinds into. It is part of the
//! world (recorded at the end of every step), so a rewound shot is as deterministic as any other.

use std::collections::VecDeque;

use glam::Vec2;
use slab::Slab;

use super::world::Player;

/// The positions of every player slot at each of the last `capacity` ticks, oldest first.
#[derive(Clone, Debug, Default)]
pub(super) struct Trail {
    capacity: usize,
    /// `(tick, position by slot)`, consecutive ticks. A slot's entry is only meaningful for a player that was in the
    /// world at that tick; the caller checks that with the player's `alive_since`.
    ticks: VecDeque<(u32, Vec<Vec2>)>,
}

impl Trail {
    /// Remembers `capacity` ticks (0: nothing, lag compensation off).
    pub(super) fn new(capacity: usize) -> Trail {
        Trail { capacity, ticks: VecDeque::with_capacity(capacity) }
    }

    /// Records the players' positions at `tick`, the tick just completed, forgetting the oldest tick when full.
    pub(super) fn record(&mut self, tick: u32, players: &Slab<Player>) {
        if self.capacity == 0 {
            return;
        }
        let mut positions = match self.ticks.len() == self.capacity {
            true => self.ticks.pop_front().map(|(_, positions)| positions).unwrap_or_default(),
            false => Vec::new(),
        };
        // Slots are dense in practice (the slab reuses the lowest free one), so the vector stays as long as the
        // highest slot in use.
        let len = players.iter().map(|(slot, _)| slot + 1).max().unwrap_or(0);
        positions.clear();
        positions.resize(len, Vec2::ZERO);
        for (slot, player) in players.iter() {
            positions[slot] = player.pos;
        }
        self.ticks.push_back((tick, positions));
    }

    /// Where the player in `slot` stood at `tick`, if the trail still holds that tick.
    pub(super) fn at(&self, tick: u32, slot: usize) -> Option<Vec2> {
        let (oldest, _) = self.ticks.front()?;
        let index = tick.wrapping_sub(*oldest) as usize;
        let (recorded, positions) = self.ticks.get(index)?;
        debug_assert_eq!(*recorded, tick, "the trail holds consecutive ticks");
        positions.get(slot).copied()
    }

    /// Bytes held, for the benchmarks' accounting.
    pub(super) fn heap_bytes(&self) -> usize {
        self.ticks.iter().map(|(_, positions)| positions.capacity() * std::mem::size_of::<Vec2>()).sum()
    }
}
