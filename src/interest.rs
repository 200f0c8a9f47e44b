//! Interest management: which entities each client is sent. With a view radius, a client sees the entities within
//! that distance of its own player (and always itself); everything else costs it nothing.
//!
//! A uniform grid with cells as wide as the radius is rebuilt once per tick from the snapshot, so a client's query
//! looks at 3 x 3 cells: a tick costs O(entities + clients x entities in view), not O(clients x entities).

use glam::Vec2;

use crate::protocol::{bullet_field, player_field, EntityKind};
use crate::sim::POS_SCALE;
use crate::snapshot::WorldSnapshot;

/// The grid of one tick's entity positions.
#[derive(Debug)]
pub struct InterestGrid {
    radius: f32,
    cell: f32,
    columns: usize,
    rows: usize,
    /// Entity indices (into the snapshot's `entities`) per cell, row-major.
    cells: Vec<Vec<u32>>,
    positions: Vec<Vec2>,
}

impl InterestGrid {
    /// A grid for a world of `width` x `height` units and a view radius (> 0).
    pub fn new(width: i32, height: i32, radius: f32) -> InterestGrid {
        let cell = radius.max(16.0);
        let columns = ((width.max(1) as f32 / cell).ceil() as usize).max(1);
        let rows = ((height.max(1) as f32 / cell).ceil() as usize).max(1);
        InterestGrid { radius, cell, columns, rows, cells: vec![Vec::new(); columns * rows], positions: Vec::new() }
    }

    fn cell_of(&self, at: Vec2) -> (usize, usize) {
        let column = ((at.x / self.cell).floor().max(0.0) as usize).min(self.columns - 1);
        let row = ((at.y / self.cell).floor().max(0.0) as usize).min(self.rows - 1);
        (column, row)
    }

    /// Places every entity of `snapshot` at its position at that tick (`dt`: seconds per tick, for bullets).
    pub fn rebuild(&mut self, snapshot: &WorldSnapshot, dt: f32) {
        for cell in &mut self.cells {
            cell.clear();
        }
        self.positions.clear();
        for (index, entity) in snapshot.entities.iter().enumerate() {
            let at = match entity.kind {
                EntityKind::Player => {
                    Vec2::new(entity.fields[player_field::X] as f32, entity.fields[player_field::Y] as f32) / POS_SCALE
                }
                EntityKind::Bullet => {
                    let origin =
                        Vec2::new(entity.fields[bullet_field::X] as f32, entity.fields[bullet_field::Y] as f32);
                    let velocity =
                        Vec2::new(entity.fields[bullet_field::VX] as f32, entity.fields[bullet_field::VY] as f32);
                    let age = snapshot.tick.saturating_sub(entity.fields[bullet_field::SPAWN_TICK] as u32) as f32;
                    (origin + velocity * age * dt) / POS_SCALE
                }
            };
            self.positions.push(at);
            let (column, row) = self.cell_of(at);
            self.cells[row * self.columns + column].push(index as u32);
        }
    }

    /// The position of entity `index` as placed by the last `rebuild`.
    pub fn position(&self, index: usize) -> Vec2 {
        self.positions[index]
    }

    /// Writes into `out` the ascending indices of the entities within the radius of `center`, plus `own` (an index,
    /// or `usize::MAX` for a viewer with no entity of its own).
    pub fn visible(&self, center: Vec2, own: usize, out: &mut Vec<u32>) {
        out.clear();
        let (column, row) = self.cell_of(center);
        let radius_squared = self.radius * self.radius;
        for r in row.saturating_sub(1)..=(row + 1).min(self.rows - 1) {
            for c in column.saturating_sub(1)..=(column + 1).min(self.columns - 1) {
                for &index in &self.cells[r * self.columns + c] {
                    if index as usize == own
                        || self.positions[index as usize].distance_squared(center) <= radius_squared
                    {
                        out.push(index);
                    }
                }
            }
        }
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::protocol::{EntityState, MAX_FIELDS};

    fn player(id: u32, x: f32, y: f32) -> (EntityState, u32) {
        let mut fields = [0; MAX_FIELDS];
        fields[player_field::X] = (x * POS_SCALE) as i32;
        fields[player_field::Y] = (y * POS_SCALE) as i32;
        (EntityState { id, kind: EntityKind::Player, fields, name: Some(Arc::from("p")) }, id)
    }

    #[test]
    fn sees_exactly_the_entities_within_the_radius_and_itself() {
        let mut entities = Vec::new();
        // A lattice of players every 50 units over a 2000 x 1000 world.
        let mut id = 1;
        for y in (0..1000).step_by(50) {
            for x in (0..2000).step_by(50) {
                entities.push(player(id, x as f32, y as f32));
                id += 1;
            }
        }
        let snapshot = WorldSnapshot::from_entities(7, entities);
        let mut grid = InterestGrid::new(2000, 1000, 300.0);
        grid.rebuild(&snapshot, 1.0 / 30.0);
        for (own, center) in [(0usize, Vec2::ZERO), (500, grid.position(500)), (799, grid.position(799))] {
            let mut visible = Vec::new();
            grid.visible(center, own, &mut visible);
            let expected: Vec<u32> = (0..snapshot.entities.len() as u32)
                .filter(|&i| i as usize == own || grid.position(i as usize).distance(center) <= 300.0)
                .collect();
            assert_eq!(visible, expected, "around entity {own}");
            assert!(visible.contains(&(own as u32)));
        }
    }

    #[test]
    fn bullets_are_placed_where_they_fly_at_the_tick() {
        let mut fields = [0; MAX_FIELDS];
        fields[bullet_field::X] = 100 * 16;
        fields[bullet_field::Y] = 100 * 16;
        fields[bullet_field::VX] = 900 * 16;
        fields[bullet_field::SPAWN_TICK] = 10;
        let bullet = EntityState { id: 65536, kind: EntityKind::Bullet, fields, name: None };
        let snapshot = WorldSnapshot::from_entities(40, vec![(bullet, 1)]);
        let mut grid = InterestGrid::new(2400, 1600, 500.0);
        grid.rebuild(&snapshot, 1.0 / 30.0);
        assert!((grid.position(0) - Vec2::new(1000.0, 100.0)).length() < 0.01, "{}", grid.position(0));
    }
}
