//! Interest management: which entities each client is sent. With a view radius, a client sees every entity within
//! that distance of its centre (its own player, or what a spectator watches); everything else costs it nothing.
//!
//! The view is made of grid cells, not of a circle per client: a client sees the entities in the cells around its
//! view cell (its own cell, kept a little while it strays out of it: `STICKY_CELLS`), every cell that comes within
//! the radius and that margin of some point of it (so nothing within the radius is missed, and a little beyond it is
//! sent too). Every client with one view cell then sees exactly the same entities, so the room encodes one body per
//! cell, not one per client, and a client's past views are a cell per tick, not a list.

use glam::Vec2;

use crate::protocol::{bullet_field, player_field, EntityKind};
use crate::sim::POS_SCALE;
use crate::snapshot::WorldSnapshot;

/// A grid cell, `row * columns + column`.
pub type Cell = u32;

/// Cells per view radius: smaller cells send fewer entities beyond the radius but share each body among fewer
/// clients. At a third of the radius the view holds about 1.5 times the circle's area.
const CELLS_PER_RADIUS: f32 = 3.0;

/// How far (in cells) a viewer may stray out of its view cell before its view moves to the cell it is in: without
/// this, a player walking along a cell's edge would flip between two views (and be created and removed in full
/// by the viewers at the edge of them) every few ticks. The view reaches that much further to keep its promise.
const STICKY_CELLS: f32 = 0.25;

/// The grid of one room.
#[derive(Debug)]
pub struct InterestGrid {
    cell: f32,
    /// How far a viewer may be outside its view cell (see `STICKY_CELLS`).
    margin: f32,
    columns: usize,
    rows: usize,
    /// For each column distance `dx` between two cells, the greatest row distance still in view (`reach.len()` is
    /// the greatest column distance + 1).
    reach: Vec<usize>,
    /// This tick: each entity's position and cell (by index in the snapshot).
    positions: Vec<Vec2>,
    cells: Vec<Cell>,
}

impl InterestGrid {
    /// A grid for a world of `width` x `height` units and a view radius (> 0).
    pub fn new(width: i32, height: i32, radius: f32) -> InterestGrid {
        let cell = (radius / CELLS_PER_RADIUS).max(16.0);
        let margin = cell * STICKY_CELLS;
        // A viewer up to `margin` outside its view cell must still see everything within `radius` of itself.
        let radius = radius + margin;
        let columns = ((width.max(1) as f32 / cell).ceil() as usize).max(1);
        let rows = ((height.max(1) as f32 / cell).ceil() as usize).max(1);
        // A cell `dx` columns and `dy` rows away has a gap of (dx - 1, dy - 1) cells to the viewer's cell; it is in
        // view when some point of it is within the radius of some point of the viewer's cell.
        let gap = |d: usize| d.saturating_sub(1) as f32 * cell;
        let mut reach = Vec::new();
        for dx in 0.. {
            if gap(dx) > radius {
                break;
            }
            let dy = (0..).take_while(|&dy| gap(dx).hypot(gap(dy)) <= radius).last().unwrap_or(0);
            reach.push(dy);
        }
        InterestGrid { cell, margin, columns, rows, reach, positions: Vec::new(), cells: Vec::new() }
    }

    /// The cell a viewer at `at` sees from, given the cell it saw from last (`None`: a new viewer): that one while
    /// `at` stays within the margin around it, else the cell `at` is in.
    pub fn view_cell(&self, previous: Option<Cell>, at: Vec2) -> Cell {
        let here = self.cell_of(at);
        match previous {
            Some(previous) if previous != here && (previous as usize) < self.cell_count() => {
                let (column, row) = (previous as usize % self.columns, previous as usize / self.columns);
                let (left, top) = (column as f32 * self.cell - self.margin, row as f32 * self.cell - self.margin);
                let side = self.cell + 2.0 * self.margin;
                let inside = at.x >= left && at.x < left + side && at.y >= top && at.y < top + side;
                if inside {
                    previous
                } else {
                    here
                }
            }
            _ => here,
        }
    }

    /// The cell holding `at` (positions off the map go to the nearest edge cell).
    pub fn cell_of(&self, at: Vec2) -> Cell {
        let column = ((at.x / self.cell).floor().max(0.0) as usize).min(self.columns - 1);
        let row = ((at.y / self.cell).floor().max(0.0) as usize).min(self.rows - 1);
        (row * self.columns + column) as Cell
    }

    /// How many cells the grid has.
    pub fn cell_count(&self) -> usize {
        self.columns * self.rows
    }

    /// Places every entity of `snapshot` at its position at that tick (`dt`: seconds per tick, for bullets).
    pub fn rebuild(&mut self, snapshot: &WorldSnapshot, dt: f32) {
        self.positions.clear();
        self.cells.clear();
        for entity in &snapshot.entities {
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
            self.cells.push(self.cell_of(at));
        }
    }

    /// The position of entity `index` as placed by the last `rebuild`.
    pub fn position(&self, index: usize) -> Vec2 {
        self.positions[index]
    }

    /// The cells of the entities as placed by the last `rebuild` (by index in the snapshot).
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// Whether an entity in cell `entity` is in the view of a client in cell `viewer`.
    #[inline]
    pub fn sees(&self, viewer: Cell, entity: Cell) -> bool {
        let (viewer, entity) = (viewer as usize, entity as usize);
        let dx = (viewer % self.columns).abs_diff(entity % self.columns);
        let dy = (viewer / self.columns).abs_diff(entity / self.columns);
        self.reach.get(dx).is_some_and(|&reach| dy <= reach)
    }

    /// Writes into `out` the ascending indices of the entities (placed in `cells`, one per entity of a snapshot) in
    /// the view of a client in cell `viewer`, by looking at every entity.
    pub fn view(&self, cells: &[Cell], viewer: Cell, out: &mut Vec<u32>) {
        out.clear();
        out.extend((0..cells.len() as u32).filter(|&index| self.sees(viewer, cells[index as usize])));
    }

    /// Sorts the entities (placed in `cells`) by cell for [`InterestGrid::view_of_index`]: `order` holds their
    /// indices cell after cell, ascending within a cell, and cell `c`'s are `order[starts[c]..starts[c + 1]]`.
    pub fn index(&self, cells: &[Cell], index: &mut CellIndex) {
        let CellIndex { order, starts } = index;
        starts.clear();
        starts.resize(self.cell_count() + 1, 0);
        for &cell in cells {
            starts[cell as usize + 1] += 1;
        }
        for cell in 0..self.cell_count() {
            starts[cell + 1] += starts[cell];
        }
        order.clear();
        order.resize(cells.len(), 0);
        let mut next = starts.clone();
        for (entity, &cell) in cells.iter().enumerate() {
            order[next[cell as usize] as usize] = entity as u32;
            next[cell as usize] += 1;
        }
    }

    /// As [`InterestGrid::view`], from an index: only the cells in view are looked at. The cells of one row in view
    /// are adjacent in the index, so each row is one slice; the entities are put back in index order through a
    /// bitset (`words`, scratch space) rather than a sort.
    pub fn view_of_index(&self, index: &CellIndex, viewer: Cell, words: &mut Vec<u64>, out: &mut Vec<u32>) {
        out.clear();
        words.clear();
        words.resize(index.order.len().div_ceil(64), 0);
        let (column, row) = (viewer as usize % self.columns, viewer as usize / self.columns);
        // The reach is symmetric: for `dy` rows away, cells up to `reach[dy]` columns away are in view.
        for (dy, &reach) in self.reach.iter().enumerate() {
            let first = column.saturating_sub(reach);
            let last = (column + reach).min(self.columns - 1);
            let rows = [row.checked_sub(dy), (dy > 0).then_some(row + dy)];
            for r in rows.into_iter().flatten().filter(|&r| r < self.rows) {
                let (from, to) = (index.starts[r * self.columns + first], index.starts[r * self.columns + last + 1]);
                for &entity in &index.order[from as usize..to as usize] {
                    words[entity as usize / 64] |= 1 << (entity % 64);
                }
            }
        }
        for (at, &word) in words.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                out.push((at * 64) as u32 + word.trailing_zeros());
                word &= word - 1;
            }
        }
    }
}

/// Entities sorted by cell (see [`InterestGrid::index`]).
#[derive(Debug, Default, Clone)]
pub struct CellIndex {
    order: Vec<u32>,
    starts: Vec<u32>,
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
    fn sees_every_entity_within_the_radius_and_little_beyond() {
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
        let cell_diagonal = 100.0 * std::f32::consts::SQRT_2;
        for own in 0..snapshot.entities.len() {
            let center = grid.position(own);
            let mut visible = Vec::new();
            grid.view(grid.cells(), grid.cell_of(center), &mut visible);
            assert!(visible.windows(2).all(|w| w[0] < w[1]), "ascending");
            assert!(visible.contains(&(own as u32)), "itself");
            for index in 0..snapshot.entities.len() {
                let distance = grid.position(index).distance(center);
                if distance <= 300.0 {
                    assert!(visible.contains(&(index as u32)), "{index} at {distance} from {own}");
                }
                if visible.contains(&(index as u32)) {
                    assert!(distance <= 300.0 + 2.0 * cell_diagonal, "{index} at {distance} from {own}");
                }
            }
        }
        // The index gives the same views.
        let mut index = CellIndex::default();
        grid.index(grid.cells(), &mut index);
        for own in (0..snapshot.entities.len()).step_by(7) {
            let (mut scanned, mut indexed) = (Vec::new(), Vec::new());
            let viewer = grid.cells()[own];
            grid.view(grid.cells(), viewer, &mut scanned);
            grid.view_of_index(&index, viewer, &mut Vec::new(), &mut indexed);
            assert_eq!(scanned, indexed, "around entity {own}");
        }
        // Everyone in one cell sees the same entities.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        grid.view(grid.cells(), grid.cell_of(Vec2::new(410.0, 410.0)), &mut a);
        grid.view(grid.cells(), grid.cell_of(Vec2::new(490.0, 490.0)), &mut b);
        assert_eq!(a, b);
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
