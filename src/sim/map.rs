//! The arena: its size, its walls and its spawn points, read from JSON and checked before a world is built on it.
//!
//! The file format, in integer world units:
//!
//! ```json
//! {"name": "arena", "width": 2400, "height": 1600,
//!  "walls": [[x, y, w, h], ...],
//!  "spawns": [[x, y], ...]}
//! ```
//!
//! A wall is an axis-aligned rectangle given by its top-left corner and size; the four world edges are walls too and
//! are not listed. Unknown fields are refused, so a typo is an error rather than a silently ignored setting.

use std::path::Path;

use glam::IVec2;
use serde::Deserialize;

use super::rng::Rng;

/// The smallest width or height a map may have.
pub const MIN_SIZE: i32 = 64;
/// The largest width or height a map may have (positions stay exact on the 1/16 grid far beyond this in `f32`).
pub const MAX_SIZE: i32 = 100_000;
/// The most walls a map may list.
pub const MAX_WALLS: usize = 65_536;
/// The most spawn points a map may list.
pub const MAX_SPAWNS: usize = 65_536;
/// The longest map name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// The player radius spawn clearance is checked against (the default [`super::Rules`] radius).
pub const SPAWN_CLEARANCE: i32 = 16;

/// An axis-aligned wall: top-left corner `(x, y)`, width `w` and height `h`, in world units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Wall {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width (positive).
    pub w: i32,
    /// Height (positive).
    pub h: i32,
}

impl Wall {
    /// The squared distance from `(px, py)` to the nearest point of the wall (0 inside it), in exact integers.
    fn distance_squared_to(&self, px: i32, py: i32) -> i64 {
        let (px, py) = (i64::from(px), i64::from(py));
        let (x0, y0) = (i64::from(self.x), i64::from(self.y));
        let (x1, y1) = (x0 + i64::from(self.w), y0 + i64::from(self.h));
        let dx = (x0 - px).max(0).max(px - x1);
        let dy = (y0 - py).max(0).max(py - y1);
        dx * dx + dy * dy
    }

    /// Whether `(px, py)` lies strictly inside the wall.
    fn contains_strictly(&self, px: i32, py: i32) -> bool {
        let (px, py) = (i64::from(px), i64::from(py));
        let (x0, y0) = (i64::from(self.x), i64::from(self.y));
        px > x0 && px < x0 + i64::from(self.w) && py > y0 && py < y0 + i64::from(self.h)
    }
}

/// A validated arena. Build it with [`Map::parse`], [`Map::load`], [`Map::bundled_arena`] or [`Map::generated`];
/// one assembled by hand should pass [`Map::validate`] before it is given to a [`super::World`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map {
    /// A short display name ("arena").
    pub name: String,
    /// World width in world units; x runs over `0..width`.
    pub width: i32,
    /// World height in world units; y runs over `0..height` (downwards).
    pub height: i32,
    /// The walls, in file order (their index is the one error messages and the wire use).
    pub walls: Vec<Wall>,
    /// Where players appear; at least one.
    pub spawns: Vec<IVec2>,
}

/// Why a map could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The file could not be read.
    #[error("cannot read map file {path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The text is not JSON, or not JSON of the map's shape (a missing or unknown field, a wrong type).
    #[error("{file}:{line}:{column}: {message}")]
    Json {
        /// The name of the map source (a path, or a label for an in-memory string).
        file: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong there, as serde_json put it.
        message: String,
    },
    /// Well-formed JSON describing an unusable map.
    #[error("{file}: {problem}")]
    Invalid {
        /// The name of the map source.
        file: String,
        /// The first problem found.
        problem: MapProblem,
    },
}

/// The first thing wrong with an otherwise well-formed map. Wall and spawn indices count from 0 in file order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapProblem {
    /// The name is empty (after trimming spaces).
    #[error("name must not be empty")]
    EmptyName,
    /// The name is too long.
    #[error("name must be at most {MAX_NAME_BYTES} bytes, got {0}")]
    NameTooLong(usize),
    /// Width or height out of range.
    #[error("{dimension} must be between {MIN_SIZE} and {MAX_SIZE}, got {value}")]
    BadSize {
        /// "width" or "height".
        dimension: &'static str,
        /// The value found.
        value: i32,
    },
    /// More walls than [`MAX_WALLS`].
    #[error("map has {0} walls, at most {MAX_WALLS} are allowed")]
    TooManyWalls(usize),
    /// More spawns than [`MAX_SPAWNS`].
    #[error("map has {0} spawn points, at most {MAX_SPAWNS} are allowed")]
    TooManySpawns(usize),
    /// A wall with a zero or negative width or height.
    #[error("wall {index} must have a positive size, got w = {w}, h = {h}")]
    EmptyWall {
        /// Which wall.
        index: usize,
        /// Its width.
        w: i32,
        /// Its height.
        h: i32,
    },
    /// A wall whose top-left corner is left of or above the world.
    #[error("wall {index} starts outside the world ({axis} = {value} < 0)")]
    WallBeforeOrigin {
        /// Which wall.
        index: usize,
        /// "x" or "y".
        axis: &'static str,
        /// The negative coordinate.
        value: i32,
    },
    /// A wall reaching past the right or bottom edge.
    #[error("wall {index} extends outside the world ({axis} + {size} = {end} > {dimension} {limit})")]
    WallPastEdge {
        /// Which wall.
        index: usize,
        /// "x" or "y".
        axis: &'static str,
        /// "w" or "h".
        size: &'static str,
        /// Where the wall ends.
        end: i64,
        /// "width" or "height".
        dimension: &'static str,
        /// The world's width or height.
        limit: i32,
    },
    /// No spawn points at all.
    #[error("map has no spawn points")]
    NoSpawns,
    /// A spawn point too close to (or beyond) a world edge for a player to stand there.
    #[error("spawn {index} at ({x}, {y}) is closer than {SPAWN_CLEARANCE} to the world edge")]
    SpawnNearEdge {
        /// Which spawn.
        index: usize,
        /// Its x.
        x: i32,
        /// Its y.
        y: i32,
    },
    /// A spawn point inside a wall.
    #[error("spawn {index} at ({x}, {y}) is inside wall {wall}")]
    SpawnInWall {
        /// Which spawn.
        index: usize,
        /// Its x.
        x: i32,
        /// Its y.
        y: i32,
        /// Which wall.
        wall: usize,
    },
    /// A spawn point outside every wall but too close to one for a player to stand there.
    #[error("spawn {index} at ({x}, {y}) is closer than {SPAWN_CLEARANCE} to wall {wall}")]
    SpawnNearWall {
        /// Which spawn.
        index: usize,
        /// Its x.
        x: i32,
        /// Its y.
        y: i32,
        /// Which wall.
        wall: usize,
    },
}

/// The file's shape, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    name: String,
    width: i32,
    height: i32,
    walls: Vec<[i32; 4]>,
    spawns: Vec<[i32; 2]>,
}

impl Map {
    /// Parses and validates a map from JSON text. `source` names the text in error messages (usually its path).
    pub fn parse(json: &str, source: &str) -> Result<Map, MapError> {
        let file: MapFile = serde_json::from_str(json).map_err(|e| json_error(&e, source))?;
        let map = Map {
            name: file.name,
            width: file.width,
            height: file.height,
            walls: file.walls.into_iter().map(|[x, y, w, h]| Wall { x, y, w, h }).collect(),
            spawns: file.spawns.into_iter().map(|[x, y]| IVec2::new(x, y)).collect(),
        };
        map.validate().map_err(|problem| MapError::Invalid { file: source.to_owned(), problem })?;
        Ok(map)
    }

    /// Reads, parses and validates the map file at `path`.
    pub fn load(path: &Path) -> Result<Map, MapError> {
        let name = path.display().to_string();
        let json = std::fs::read_to_string(path).map_err(|source| MapError::Io { path: name.clone(), source })?;
        Map::parse(&json, &name)
    }

    /// The default map compiled into the binary (`assets/maps/arena.json`).
    ///
    /// # Panics
    ///
    /// Only if the bundled file is broken, which a unit test rules out.
    pub fn bundled_arena() -> Map {
        match Map::parse(include_str!("../../assets/maps/arena.json"), "assets/maps/arena.json") {
            Ok(map) => map,
            Err(e) => panic!("the bundled map is invalid: {e}"),
        }
    }

    /// A procedurally placed arena of (about) `width` by `height`, for benchmarks that grow the map with the player
    /// count. Sizes are clamped into `MIN_SIZE..=MAX_SIZE`; the same arguments always give the same map.
    ///
    /// The world is cut into cells of roughly 400 x 400 units. Each cell gets one spawn point (24 units or more from
    /// the cell's border) and, most of the time, one wall (a block or a bar) kept 40 units clear of the cell's
    /// border: walls never touch the world edges or each other, every gap (at least 40 to an edge, 80 between
    /// walls) is wide enough for a player, and the density (about one wall per 190,000 square units) matches the
    /// bundled arena.
    pub fn generated(width: i32, height: i32, seed: u64) -> Map {
        const CELL: i32 = 400;
        const SPAWN_MARGIN: i32 = 24;
        const WALL_MARGIN: i32 = 40;
        let width = width.clamp(MIN_SIZE, MAX_SIZE);
        let height = height.clamp(MIN_SIZE, MAX_SIZE);
        let cols = (width / CELL).max(1);
        let rows = (height / CELL).max(1);
        let mut rng = Rng::new(seed ^ 0x6D61_705F_6765_6E21);
        let mut walls = Vec::new();
        let mut spawns = Vec::new();
        let split = |i: i32, n: i32, size: i32| (i64::from(i) * i64::from(size) / i64::from(n)) as i32;
        for row in 0..rows {
            let (y0, y1) = (split(row, rows, height), split(row + 1, rows, height));
            for col in 0..cols {
                let (x0, x1) = (split(col, cols, width), split(col + 1, cols, width));
                let spawn = IVec2::new(
                    rng.range_i32(x0 + SPAWN_MARGIN, x1 - SPAWN_MARGIN),
                    rng.range_i32(y0 + SPAWN_MARGIN, y1 - SPAWN_MARGIN),
                );
                spawns.push(spawn);
                // Six cells in seven get a wall: about one per 190,000 square units.
                if rng.below(7) == 0 {
                    continue;
                }
                let (room_w, room_h) = (x1 - x0 - 2 * WALL_MARGIN, y1 - y0 - 2 * WALL_MARGIN);
                for _attempt in 0..8 {
                    let (w, h) = match rng.below(3) {
                        0 => (rng.range_i32(40, 120), rng.range_i32(40, 120)),
                        1 => (rng.range_i32(120, 280), rng.range_i32(24, 40)),
                        _ => (rng.range_i32(24, 40), rng.range_i32(120, 280)),
                    };
                    let (w, h) = (w.min(room_w), h.min(room_h));
                    if w < 8 || h < 8 {
                        break;
                    }
                    let wall = Wall {
                        x: rng.range_i32(x0 + WALL_MARGIN, x1 - WALL_MARGIN - w),
                        y: rng.range_i32(y0 + WALL_MARGIN, y1 - WALL_MARGIN - h),
                        w,
                        h,
                    };
                    let clearance = i64::from(SPAWN_CLEARANCE);
                    if wall.distance_squared_to(spawn.x, spawn.y) >= clearance * clearance {
                        walls.push(wall);
                        break;
                    }
                }
            }
        }
        Map { name: format!("generated-{width}x{height}-{seed}"), width, height, walls, spawns }
    }

    /// Checks the map: sizes in range, every wall non-empty and inside the world, at least one spawn point, and each
    /// spawn point far enough from the edges and outside every wall by a player's radius ([`SPAWN_CLEARANCE`]).
    /// Returns the first problem found.
    pub fn validate(&self) -> Result<(), MapProblem> {
        if self.name.trim().is_empty() {
            return Err(MapProblem::EmptyName);
        }
        if self.name.len() > MAX_NAME_BYTES {
            return Err(MapProblem::NameTooLong(self.name.len()));
        }
        for (dimension, value) in [("width", self.width), ("height", self.height)] {
            if !(MIN_SIZE..=MAX_SIZE).contains(&value) {
                return Err(MapProblem::BadSize { dimension, value });
            }
        }
        if self.walls.len() > MAX_WALLS {
            return Err(MapProblem::TooManyWalls(self.walls.len()));
        }
        if self.spawns.len() > MAX_SPAWNS {
            return Err(MapProblem::TooManySpawns(self.spawns.len()));
        }
        for (index, wall) in self.walls.iter().enumerate() {
            if wall.w <= 0 || wall.h <= 0 {
                return Err(MapProblem::EmptyWall { index, w: wall.w, h: wall.h });
            }
            let axes =
                [("x", "w", "width", wall.x, wall.w, self.width), ("y", "h", "height", wall.y, wall.h, self.height)];
            for (axis, size, dimension, start, extent, limit) in axes {
                if start < 0 {
                    return Err(MapProblem::WallBeforeOrigin { index, axis, value: start });
                }
                let end = i64::from(start) + i64::from(extent);
                if end > i64::from(limit) {
                    return Err(MapProblem::WallPastEdge { index, axis, size, end, dimension, limit });
                }
            }
        }
        if self.spawns.is_empty() {
            return Err(MapProblem::NoSpawns);
        }
        let clearance = SPAWN_CLEARANCE;
        for (index, spawn) in self.spawns.iter().enumerate() {
            let (x, y) = (spawn.x, spawn.y);
            let near_edge =
                |v: i32, limit: i32| v < clearance || i64::from(v) > i64::from(limit) - i64::from(clearance);
            if near_edge(x, self.width) || near_edge(y, self.height) {
                return Err(MapProblem::SpawnNearEdge { index, x, y });
            }
            for (wall_index, wall) in self.walls.iter().enumerate() {
                if wall.contains_strictly(x, y) {
                    return Err(MapProblem::SpawnInWall { index, x, y, wall: wall_index });
                }
                if wall.distance_squared_to(x, y) < i64::from(clearance) * i64::from(clearance) {
                    return Err(MapProblem::SpawnNearWall { index, x, y, wall: wall_index });
                }
            }
        }
        Ok(())
    }
}

/// Turns a serde_json error into [`MapError::Json`], keeping the position apart from the message.
fn json_error(error: &serde_json::Error, source: &str) -> MapError {
    let text = error.to_string();
    // serde_json appends " at line L column C" to its message; the position is reported separately.
    let message = match text.rfind(" at line ") {
        Some(cut) if error.line() > 0 => text[..cut].to_owned(),
        _ => text,
    };
    let kind = match error.classify() {
        serde_json::error::Category::Data => "bad map format",
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "invalid JSON",
    };
    MapError::Json {
        file: source.to_owned(),
        line: error.line(),
        column: error.column(),
        message: format!("{kind}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str =
        r#"{"name": "t", "width": 400, "height": 300, "walls": [[100, 100, 50, 20]], "spawns": [[40, 40]]}"#;

    /// Parses `SMALL` with one field replaced, returning the error message.
    fn problem_with(field: &str, value: &str) -> String {
        let mut doc: serde_json::Value = serde_json::from_str(SMALL).unwrap();
        doc[field] = serde_json::from_str(value).unwrap();
        match Map::parse(&doc.to_string(), "test.json") {
            Ok(map) => panic!("expected an error for {field} = {value}, got {map:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bundled_arena_parses_and_is_playable() {
        let map = Map::bundled_arena();
        assert_eq!(map.name, "arena");
        assert_eq!((map.width, map.height), (2400, 1600));
        assert!((15..=25).contains(&map.walls.len()), "{} walls", map.walls.len());
        assert!(map.spawns.len() >= 8);
        // Symmetric under a half turn about the centre: walls and spawns map onto walls and spawns.
        for wall in &map.walls {
            let turned = Wall { x: map.width - wall.x - wall.w, y: map.height - wall.y - wall.h, ..*wall };
            assert!(map.walls.contains(&turned), "{wall:?} has no symmetric twin");
        }
        for spawn in &map.spawns {
            assert!(map.spawns.contains(&IVec2::new(map.width - spawn.x, map.height - spawn.y)));
        }
        // Spawns are spread out: no two closer than 300 units.
        for (i, a) in map.spawns.iter().enumerate() {
            for b in &map.spawns[i + 1..] {
                assert!(a.as_vec2().distance(b.as_vec2()) >= 300.0, "{a} and {b} are too close");
            }
        }
    }

    #[test]
    fn bundled_arena_leaves_room_to_pass_between_walls() {
        // Any two walls that do not touch (touching walls form one shape) leave a gap of at least two player
        // diameters.
        let map = Map::bundled_arena();
        for (i, a) in map.walls.iter().enumerate() {
            for b in &map.walls[i + 1..] {
                let gap_x = (b.x - (a.x + a.w)).max(a.x - (b.x + b.w)).max(0);
                let gap_y = (b.y - (a.y + a.h)).max(a.y - (b.y + b.h)).max(0);
                let gap = ((gap_x * gap_x + gap_y * gap_y) as f32).sqrt();
                assert!(gap == 0.0 || gap >= 64.0, "walls {a:?} and {b:?} are {gap} apart");
            }
        }
    }

    #[test]
    fn small_map_parses() {
        let map = Map::parse(SMALL, "small.json").unwrap();
        assert_eq!(map.walls, vec![Wall { x: 100, y: 100, w: 50, h: 20 }]);
        assert_eq!(map.spawns, vec![IVec2::new(40, 40)]);
    }

    #[test]
    fn validation_errors_name_the_problem() {
        assert_eq!(problem_with("width", "0"), "test.json: width must be between 64 and 100000, got 0");
        assert_eq!(problem_with("height", "100001"), "test.json: height must be between 64 and 100000, got 100001");
        assert_eq!(problem_with("name", r#""  ""#), "test.json: name must not be empty");
        assert_eq!(problem_with("spawns", "[]"), "test.json: map has no spawn points");
        assert_eq!(
            problem_with("walls", "[[0, 0, 10, 10], [350, 10, 60, 10]]"),
            "test.json: wall 1 extends outside the world (x + w = 410 > width 400)"
        );
        assert_eq!(
            problem_with("walls", "[[0, 250, 10, 60]]"),
            "test.json: wall 0 extends outside the world (y + h = 310 > height 300)"
        );
        assert_eq!(
            problem_with("walls", "[[10, -5, 10, 10]]"),
            "test.json: wall 0 starts outside the world (y = -5 < 0)"
        );
        assert_eq!(
            problem_with("walls", "[[10, 10, 0, 10]]"),
            "test.json: wall 0 must have a positive size, got w = 0, h = 10"
        );
        assert_eq!(
            problem_with("spawns", "[[40, 40], [200, 150], [120, 110]]"),
            "test.json: spawn 2 at (120, 110) is inside wall 0"
        );
        assert_eq!(
            problem_with("spawns", "[[120, 90]]"),
            "test.json: spawn 0 at (120, 90) is closer than 16 to wall 0"
        );
        assert_eq!(
            problem_with("spawns", "[[40, 40], [390, 150]]"),
            "test.json: spawn 1 at (390, 150) is closer than 16 to the world edge"
        );
        // Exactly one radius away from a wall or an edge is allowed.
        let ok = SMALL.replace("[[40, 40]]", "[[16, 16], [384, 284], [84, 110], [125, 136]]");
        Map::parse(&ok, "ok.json").unwrap();
        // Huge values do not overflow the checks.
        assert_eq!(
            problem_with("walls", "[[2147483647, 0, 2147483647, 10]]"),
            "test.json: wall 0 extends outside the world (x + w = 4294967294 > width 400)"
        );
    }

    #[test]
    fn validation_errors_are_typed() {
        let mut map = Map::parse(SMALL, "t").unwrap();
        map.spawns[0] = IVec2::new(100, 100);
        assert_eq!(map.validate(), Err(MapProblem::SpawnNearWall { index: 0, x: 100, y: 100, wall: 0 }));
        map.spawns.clear();
        assert_eq!(map.validate(), Err(MapProblem::NoSpawns));
    }

    #[test]
    fn json_errors_report_line_and_column() {
        let text = "{\n  \"name\": \"t\",\n  \"width\": 400,,\n}";
        let err = Map::parse(text, "bad.json").unwrap_err();
        match &err {
            MapError::Json { file, line, column, .. } => {
                assert_eq!(file, "bad.json");
                assert_eq!((*line, *column), (3, 16));
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
        assert!(err.to_string().starts_with("bad.json:3:16: invalid JSON: "), "{err}");
        assert!(!err.to_string().contains("at line"), "{err}");

        let unknown = SMALL.replace("\"name\"", "\"colour\": 1, \"name\"");
        let err = Map::parse(&unknown, "unknown.json").unwrap_err().to_string();
        assert!(err.starts_with("unknown.json:1:") && err.contains("bad map format: unknown field `colour`"), "{err}");

        let missing = SMALL.replace(", \"spawns\": [[40, 40]]", "");
        let err = Map::parse(&missing, "m.json").unwrap_err().to_string();
        assert!(err.contains("missing field `spawns`"), "{err}");

        let wrong = SMALL.replace("[[100, 100, 50, 20]]", "[[100, 100, 50]]");
        let err = Map::parse(&wrong, "w.json").unwrap_err().to_string();
        assert!(err.starts_with("w.json:1:") && err.contains("bad map format"), "{err}");

        let err = Map::parse("", "empty.json").unwrap_err().to_string();
        assert!(err.starts_with("empty.json:1:0: invalid JSON: EOF"), "{err}");
    }

    #[test]
    fn load_reads_files_and_reports_io_errors() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("skirmish-map-test-{}.json", std::process::id()));
        std::fs::write(&path, include_str!("../../assets/maps/arena.json")).unwrap();
        let loaded = Map::load(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(loaded.unwrap(), Map::bundled_arena());

        let missing = dir.join("skirmish-no-such-map.json");
        let err = Map::load(&missing).unwrap_err();
        assert!(matches!(&err, MapError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound));
        assert!(err.to_string().starts_with("cannot read map file "), "{err}");
        assert!(err.to_string().contains("skirmish-no-such-map.json"), "{err}");
    }

    #[test]
    fn duel_map_parses() {
        let map = Map::parse(include_str!("../../assets/maps/duel.json"), "duel.json").unwrap();
        assert_eq!(map.name, "duel");
        assert!(map.spawns.len() >= 2);
    }

    #[test]
    fn generated_maps_validate_and_scale() {
        let mut previous_walls = 0;
        for (i, &(w, h)) in [(64, 64), (300, 900), (2400, 1600), (6000, 4000), (20_000, 12_000)].iter().enumerate() {
            for seed in [0, 1, 0xDEAD_BEEF] {
                let map = Map::generated(w, h, seed);
                map.validate().unwrap_or_else(|p| panic!("generated {w}x{h} seed {seed}: {p}"));
                assert_eq!((map.width, map.height), (w, h));
                assert_eq!(map, Map::generated(w, h, seed), "generation is deterministic");
                // Walls leave room for a player (32 units) between them and the world edges.
                for wall in &map.walls {
                    assert!(wall.x >= 40 && wall.y >= 40, "{wall:?}");
                    assert!(wall.x + wall.w <= w - 40 && wall.y + wall.h <= h - 40, "{wall:?}");
                }
                if i >= 2 {
                    let per_million = map.walls.len() as f64 / (f64::from(w) * f64::from(h) / 1e6);
                    assert!((3.5..8.0).contains(&per_million), "{w}x{h}: {per_million} walls per million");
                    assert!(map.walls.len() > previous_walls);
                    assert!(map.spawns.len() >= 24);
                }
            }
            previous_walls = Map::generated(w, h, 0).walls.len();
        }
        assert_ne!(Map::generated(2400, 1600, 1), Map::generated(2400, 1600, 2));
        assert_eq!(Map::generated(0, -5, 3).width, MIN_SIZE);
        assert_eq!(Map::generated(i32::MAX, 64, 3).width, MAX_SIZE);
    }
}
