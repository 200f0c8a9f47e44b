//! Shared set-up of the benchmarks: a busy world of N players driven by the bot logic, on a generated map grown with
//! N so that the density (and with it the fights, bullets and collisions per player) stays that of the bundled
//! arena.
//!
//! The bots see the world as a client would: one snapshot per tick, turned into [`Entity`] lists. Giving every bot
//! the whole world would make the set-up quadratic (5,000 bots × 10,000 entities and all 2,000 walls, per tick), so
//! each bot is given the entities and walls of the 3 × 3 cells of [`CELL`] units around it: more than a brain's
//! vision and tracking range, so targets, shots and dodges are the same as with the whole world. Only a far waypoint
//! may be checked against fewer walls (the bot then steers around the wall it meets, or picks another waypoint).

use std::collections::VecDeque;

use glam::Vec2;
use skirmish::bot::{Brain, Decision, View};
use skirmish::config::RoomConfig;
use skirmish::protocol::{bullet_field, player_field, EntityKind, MapInfo, RulesInfo};
use skirmish::sim::{Map, PlayerId, PlayerInput, Rules, World, POS_SCALE};
use skirmish::snapshot::{Entity, EventLog, WorldSnapshot};

/// The bundled arena is 2400 × 1600 and plays well with about 50 players.
const ARENA: (f64, f64) = (2400.0, 1600.0);
const ARENA_PLAYERS: f64 = 50.0;
/// Seed of the generated maps.
const MAP_SEED: u64 = 7;
/// Ticks played before anything is measured: bullets take 1.2 s to expire and the dead 3 s to respawn, so after
/// 10 s at 30 Hz the world has reached its steady state of fights. Above 1,000 players a room tick takes 0.1 s
/// (0.4 s in the first ticks) and two rooms are warmed up, so those worlds get 100 ticks: bullets fly at their
/// steady count after 36 ticks, and the first kills come soon after.
pub fn warm_up_ticks(players: usize) -> u32 {
    if players > 1_000 {
        100
    } else {
        300
    }
}
/// Cells of the bots' neighbourhoods: at least a brain's tracking range (1,000 units), so the 3 × 3 cells around a
/// bot hold everything it may target or dodge.
const CELL: f32 = 1000.0;
/// Snapshots kept by [`Sim`] for baselines.
const HISTORY: usize = 8;

/// The test configuration with a generated map of the bundled arena's proportions and density for `players`.
pub fn config(players: usize) -> RoomConfig {
    let scale = (players as f64 / ARENA_PLAYERS).sqrt();
    let mut config = RoomConfig::for_tests();
    config.map = Map::generated((ARENA.0 * scale).round() as i32, (ARENA.1 * scale).round() as i32, MAP_SEED);
    config.max_players = players;
    config
}

/// The controls a decision stands for, as the room turns an input into them, its shots rewound by `rewind` ticks.
pub fn player_input(decision: &Decision, rewind: f32) -> PlayerInput {
    PlayerInput {
        movement: Vec2::new(f32::from(decision.move_x), f32::from(decision.move_y)) / 127.0,
        aim: decision.aim,
        fire: decision.fire,
        rewind,
    }
}

/// Where an entity is at the snapshot's tick, in world units.
fn position(entity: &Entity, tick: u32, tick_rate: f32) -> Vec2 {
    let at = |x: usize, y: usize| Vec2::new(entity.fields[x] as f32, entity.fields[y] as f32) / POS_SCALE;
    match entity.kind {
        EntityKind::Player => at(player_field::X, player_field::Y),
        EntityKind::Bullet => {
            let age = tick.saturating_sub(entity.fields[bullet_field::SPAWN_TICK] as u32) as f32 / tick_rate;
            at(bullet_field::X, bullet_field::Y) + at(bullet_field::VX, bullet_field::VY) * age
        }
    }
}

/// One brain per player, and the neighbourhoods they look at.
pub struct Bots {
    brains: Vec<Brain>,
    rules: RulesInfo,
    tick_rate: u16,
    columns: usize,
    rows: usize,
    /// Per cell: the map with only the walls that touch its 3 × 3 neighbourhood.
    maps: Vec<MapInfo>,
    /// Per cell: the entities of its 3 × 3 neighbourhood, sorted by id (refilled every tick).
    near: Vec<Vec<Entity>>,
    decisions: Vec<Decision>,
}

impl Bots {
    /// `count` brains for a world on `map` with `rules`.
    pub fn new(map: &Map, rules: &Rules, tick_rate: u32, count: usize) -> Bots {
        let columns = ((map.width as f32 / CELL).ceil() as usize).max(1);
        let rows = ((map.height as f32 / CELL).ceil() as usize).max(1);
        let whole = MapInfo::from(map);
        let mut maps = Vec::with_capacity(columns * rows);
        for row in 0..rows {
            for column in 0..columns {
                let (x0, y0) = ((column as f32 - 1.0) * CELL, (row as f32 - 1.0) * CELL);
                let (x1, y1) = (x0 + 3.0 * CELL, y0 + 3.0 * CELL);
                let walls = whole
                    .walls
                    .iter()
                    .filter(|&&[x, y, w, h]| {
                        (x as f32) < x1 && ((x + w) as f32) > x0 && (y as f32) < y1 && ((y + h) as f32) > y0
                    })
                    .copied()
                    .collect();
                maps.push(MapInfo { walls, spawns: Vec::new(), ..whole.clone() });
            }
        }
        Bots {
            brains: (0..count).map(|i| Brain::new(1000 + i as u64)).collect(),
            rules: RulesInfo::from(rules),
            tick_rate: tick_rate as u16,
            columns,
            rows,
            maps,
            near: vec![Vec::new(); columns * rows],
            decisions: Vec::with_capacity(count),
        }
    }

    /// The cell at `at`, as an index, with its column and row.
    fn cell_of(columns: usize, rows: usize, at: Vec2) -> (usize, usize, usize) {
        let column = ((at.x / CELL).floor().max(0.0) as usize).min(columns - 1);
        let row = ((at.y / CELL).floor().max(0.0) as usize).min(rows - 1);
        (row * columns + column, column, row)
    }

    /// Each bot's decision on `snapshot`; `players[i]` is the wire id of bot `i`'s player.
    pub fn decide(&mut self, snapshot: &WorldSnapshot, players: &[u32]) -> &[Decision] {
        let (rate, columns, rows) = (f32::from(self.tick_rate), self.columns, self.rows);
        for near in &mut self.near {
            near.clear();
        }
        // The snapshot is sorted by id, so every neighbourhood list is too.
        for state in &snapshot.entities {
            let entity = Entity::from(state);
            let (_, column, row) = Bots::cell_of(columns, rows, position(&entity, snapshot.tick, rate));
            for r in row.saturating_sub(1)..=(row + 1).min(rows - 1) {
                for c in column.saturating_sub(1)..=(column + 1).min(columns - 1) {
                    self.near[r * columns + c].push(entity);
                }
            }
        }
        self.decisions.clear();
        for (brain, &id) in self.brains.iter_mut().zip(players) {
            let Some(me) = snapshot.entity(id).map(Entity::from) else {
                self.decisions.push(Decision::default());
                continue;
            };
            let (cell, _, _) = Bots::cell_of(columns, rows, position(&me, snapshot.tick, rate));
            let view = View {
                tick: snapshot.tick,
                me: &me,
                entities: &self.near[cell],
                map: &self.maps[cell],
                rules: &self.rules,
                tick_rate: self.tick_rate,
            };
            self.decisions.push(brain.decide(&view));
        }
        &self.decisions
    }
}

/// A bare world (no room, no clients) driven by bots, with its recent snapshots and events: the material of the
/// benchmarks of the tick's parts and of the codec.
///
/// A tick is split so each part can be timed alone: [`Sim::decide`], [`Sim::apply`], [`Sim::step`],
/// [`Sim::record`].
pub struct Sim {
    pub world: World,
    ids: Vec<PlayerId>,
    wire_ids: Vec<u32>,
    bots: Bots,
    decisions: Vec<Decision>,
    /// Events of the recent ticks, as the room keeps them.
    pub events: EventLog,
    /// The last [`HISTORY`] snapshots, oldest first.
    history: VecDeque<WorldSnapshot>,
    /// Ticks every input's shots are rewound by (lag compensation; 0: resolved in the present).
    pub rewind: f32,
}

impl Sim {
    /// A new world of `players` bots on the scaled map (not warmed up).
    // Each bench compiles this module on its own, and the tick bench builds its worlds in a room instead.
    #[allow(dead_code)]
    pub fn new(players: usize) -> Sim {
        Sim::with_rules(players, Rules::for_tick_rate(config(players).tick_rate))
    }

    /// [`Sim::new`] under other rules (lag compensation off, say).
    #[allow(dead_code)]
    pub fn with_rules(players: usize, rules: Rules) -> Sim {
        let config = config(players);
        let mut world = World::new(config.map, rules, config.seed);
        for i in 0..players {
            world.add_player(&format!("bot{i}"));
        }
        Sim::from_world(world, config.tick_rate)
    }

    /// Bots for every player of `world` (for example a copy of a warmed-up room's world).
    pub fn from_world(mut world: World, tick_rate: u32) -> Sim {
        let ids: Vec<PlayerId> = world.players().map(|p| p.id).collect();
        let bots = Bots::new(world.map(), world.rules(), tick_rate, ids.len());
        let mut events = EventLog::default();
        events.record(world.drain_events());
        let history = VecDeque::from([WorldSnapshot::capture(&world)]);
        Sim {
            world,
            wire_ids: ids.iter().map(|id| id.wire_id()).collect(),
            ids,
            bots,
            decisions: Vec::new(),
            events,
            history,
            rewind: 0.0,
        }
    }

    /// The bots decide on the latest snapshot.
    pub fn decide(&mut self) {
        let latest = self.history.back().expect("a snapshot");
        let decisions = self.bots.decide(latest, &self.wire_ids);
        self.decisions.clear();
        self.decisions.extend_from_slice(decisions);
    }

    /// Their decisions become the players' inputs.
    pub fn apply(&mut self) {
        for (id, decision) in self.ids.iter().zip(&self.decisions) {
            self.world.set_input(*id, player_input(decision, self.rewind));
        }
    }

    pub fn step(&mut self) {
        self.world.step();
    }

    /// After a step: keep its events and its snapshot (what the bots see next, and a baseline for later ticks).
    pub fn record(&mut self) {
        self.events.record(self.world.drain_events());
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(WorldSnapshot::capture(&self.world));
        let oldest = self.history.front().map_or(0, |s| s.tick);
        self.events.forget_through(oldest.saturating_sub(1));
    }

    /// Plays `ticks` whole ticks and returns the time their steps alone took (the bots' decisions and the
    /// snapshots around each step are not part of a tick's simulation).
    #[allow(dead_code)]
    pub fn timed_steps(&mut self, ticks: u64) -> std::time::Duration {
        let mut timed = std::time::Duration::ZERO;
        for _ in 0..ticks {
            self.decide();
            self.apply();
            let start = std::time::Instant::now();
            self.step();
            timed += start.elapsed();
            self.record();
        }
        timed
    }

    /// Plays `ticks` whole ticks.
    pub fn advance(&mut self, ticks: u32) {
        for _ in 0..ticks {
            self.decide();
            self.apply();
            self.step();
            self.record();
        }
    }

    /// The snapshot of the current tick.
    // Each bench compiles this module on its own; the lag-compensation bench reads no snapshots.
    #[allow(dead_code)]
    pub fn latest(&self) -> &WorldSnapshot {
        self.history.back().expect("a snapshot")
    }

    /// The snapshot of `ticks` ticks ago (at most [`HISTORY`] - 1).
    #[allow(dead_code)]
    pub fn ago(&self, ticks: usize) -> &WorldSnapshot {
        &self.history[self.history.len() - 1 - ticks]
    }
}
