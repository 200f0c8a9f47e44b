//! Uniform grids over the world that keep collision queries local.
//!
//! Both grids store their contents in compressed rows: `starts[cell]..starts[cell + 1]` indexes a flat item array.
//! The wall grid is built once per world; the player grid is rebuilt every tick by a counting sort into buffers it
//! keeps, so a tick allocates nothing once the buffers have grown to the player count.

use glam::Vec2;

use super::geom::Rect;

/// At most this many cells per grid: a huge map gets coarser cells rather than a huge table.
const MAX_CELLS: f32 = (1 << 20) as f32;

/// The cell layout of a grid covering `0..width` x `0..height`.
#[derive(Clone, Debug)]
pub(crate) struct GridShape {
    inv_cell: f32,
    cols: u32,
    rows: u32,
}

impl GridShape {
    /// Square cells of at least `min_cell` units (larger when the map would need more than [`MAX_CELLS`] cells).
    pub(crate) fn new(width: f32, height: f32, min_cell: f32) -> GridShape {
        let width = width.max(1.0);
        let height = height.max(1.0);
        let cell = min_cell.max((width * height / MAX_CELLS).sqrt()).max(1.0);
        let cols = (width / cell).ceil().max(1.0) as u32;
        let rows = (height / cell).ceil().max(1.0) as u32;
        GridShape { inv_cell: 1.0 / cell, cols, rows }
    }

    /// Number of cells.
    pub(crate) fn len(&self) -> usize {
        self.cols as usize * self.rows as usize
    }

    /// The column or row of a coordinate, clamped into the grid (points outside the world use the border cells).
    fn index(&self, v: f32, count: u32) -> u32 {
        // `as` saturates: negative and NaN become 0.
        ((v * self.inv_cell) as u32).min(count - 1)
    }

    /// The cell holding `p`.
    pub(crate) fn cell_of(&self, p: Vec2) -> usize {
        self.index(p.y, self.rows) as usize * self.cols as usize + self.index(p.x, self.cols) as usize
    }

    /// Calls `f` with each cell that overlaps `area` (clamped to the grid), row by row.
    fn for_each_cell(&self, area: Rect, mut f: impl FnMut(usize)) {
        let (c0, c1) = (self.index(area.min.x, self.cols), self.index(area.max.x, self.cols));
        let (r0, r1) = (self.index(area.min.y, self.rows), self.index(area.max.y, self.rows));
        for row in r0..=r1 {
            let base = row as usize * self.cols as usize;
            for col in c0..=c1 {
                f(base + col as usize);
            }
        }
    }
}

/// The static walls, bucketed by the cells they overlap.
#[derive(Clone, Debug)]
pub(crate) struct WallGrid {
    shape: GridShape,
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl WallGrid {
    /// Cell size of the wall grid: about the size of a player's query box.
    pub(crate) const CELL: f32 = 64.0;

    /// Buckets `walls` (index = position in the slice) into a grid over the world.
    pub(crate) fn new(width: f32, height: f32, walls: &[Rect]) -> WallGrid {
        let shape = GridShape::new(width, height, Self::CELL);
        let mut starts = vec![0u32; shape.len() + 1];
        for wall in walls {
            shape.for_each_cell(*wall, |cell| starts[cell + 1] += 1);
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut cursor = starts[..shape.len()].to_vec();
        let mut items = vec![0u32; starts[shape.len()] as usize];
        for (index, wall) in walls.iter().enumerate() {
            shape.for_each_cell(*wall, |cell| {
                items[cursor[cell] as usize] = index as u32;
                cursor[cell] += 1;
            });
        }
        WallGrid { shape, starts, items }
    }

    /// Calls `f` with the index of every wall in a cell that overlaps `area`. A wall spanning several of those cells
    /// comes up once per cell: callers either do not care (taking a minimum) or sort and deduplicate.
    pub(crate) fn for_each_near(&self, area: Rect, mut f: impl FnMut(u32)) {
        self.shape.for_each_cell(area, |cell| {
            let (a, b) = (self.starts[cell] as usize, self.starts[cell + 1] as usize);
            for &wall in &self.items[a..b] {
                f(wall);
            }
        });
    }
}

/// Live players bucketed by the cell holding their centre; rebuilt each tick.
#[derive(Clone, Debug)]
pub(crate) struct PlayerGrid {
    shape: GridShape,
    starts: Vec<u32>,
    cursor: Vec<u32>,
    /// `(slot, position)` of each player, grouped by cell, in slot order within a cell.
    entries: Vec<(u32, Vec2)>,
}

impl PlayerGrid {
    /// A grid whose cells are at least `min_cell` wide.
    pub(crate) fn new(width: f32, height: f32, min_cell: f32) -> PlayerGrid {
        let shape = GridShape::new(width, height, min_cell);
        let cells = shape.len();
        PlayerGrid { shape, starts: vec![0; cells + 1], cursor: vec![0; cells], entries: Vec::new() }
    }

    /// Refills the grid with `players` (`(slot, position)` pairs; the iterator is walked twice).
    pub(crate) fn rebuild(&mut self, players: impl Iterator<Item = (u32, Vec2)> + Clone) {
        self.starts.fill(0);
        let mut count = 0;
        for (_, pos) in players.clone() {
            self.starts[self.shape.cell_of(pos) + 1] += 1;
            count += 1;
        }
        for i in 1..self.starts.len() {
            self.starts[i] += self.starts[i - 1];
        }
        self.cursor.copy_from_slice(&self.starts[..self.shape.len()]);
        self.entries.clear();
        self.entries.resize(count, (0, Vec2::ZERO));
        for (slot, pos) in players {
            let cell = self.shape.cell_of(pos);
            self.entries[self.cursor[cell] as usize] = (slot, pos);
            self.cursor[cell] += 1;
        }
    }

    /// Calls `f` with every player whose centre lies in a cell overlapping `area`. Each player comes up at most once.
    pub(crate) fn for_each_near(&self, area: Rect, mut f: impl FnMut(u32, Vec2)) {
        self.shape.for_each_cell(area, |cell| {
            let (a, b) = (self.starts[cell] as usize, self.starts[cell + 1] as usize);
            for &(slot, pos) in &self.entries[a..b] {
                f(slot, pos);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Rect {
        Rect { min: Vec2::new(x0, y0), max: Vec2::new(x1, y1) }
    }

    #[test]
    fn shape_caps_the_cell_count() {
        let small = GridShape::new(2400.0, 1600.0, 128.0);
        assert_eq!((small.cols, small.rows), (19, 13));
        let huge = GridShape::new(100_000.0, 100_000.0, 64.0);
        assert!(huge.len() as f32 <= MAX_CELLS * 1.01, "{} cells", huge.len());
        assert_eq!(small.cell_of(Vec2::new(-5.0, f32::NAN)), 0);
        assert_eq!(small.cell_of(Vec2::new(1e9, 1e9)), small.len() - 1);
    }

    #[test]
    fn wall_grid_finds_exactly_the_overlapping_walls() {
        let walls = [rect(0.0, 0.0, 10.0, 10.0), rect(100.0, 100.0, 400.0, 120.0), rect(900.0, 500.0, 950.0, 600.0)];
        let grid = WallGrid::new(1000.0, 600.0, &walls);
        let mut found = Vec::new();
        grid.for_each_near(rect(300.0, 90.0, 310.0, 95.0), |w| found.push(w));
        assert_eq!(found, vec![1]);
        found.clear();
        grid.for_each_near(rect(0.0, 0.0, 1000.0, 600.0), |w| found.push(w));
        found.sort_unstable();
        found.dedup();
        assert_eq!(found, vec![0, 1, 2]);
        found.clear();
        grid.for_each_near(rect(500.0, 300.0, 520.0, 320.0), |w| found.push(w));
        assert!(found.is_empty());
    }

    #[test]
    fn player_grid_rebuilds_and_queries() {
        let mut grid = PlayerGrid::new(1000.0, 1000.0, 128.0);
        let players = [(0u32, Vec2::new(10.0, 10.0)), (3, Vec2::new(500.0, 500.0)), (5, Vec2::new(20.0, 30.0))];
        grid.rebuild(players.iter().copied());
        let mut found = Vec::new();
        grid.for_each_near(rect(0.0, 0.0, 50.0, 50.0), |slot, _| found.push(slot));
        assert_eq!(found, vec![0, 5]);
        // A rebuild replaces the previous contents.
        grid.rebuild(players[1..].iter().copied());
        found.clear();
        grid.for_each_near(rect(0.0, 0.0, 1000.0, 1000.0), |slot, _| found.push(slot));
        found.sort_unstable();
        assert_eq!(found, vec![3, 5]);
    }
}
