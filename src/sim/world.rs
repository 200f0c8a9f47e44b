//! The world: players, bullets, the rules they follow and the fixed-step tick that moves them.
//!
//! [`World::step`] advances exactly one tick of `rules.dt` seconds. Its movement formulas are part of the protocol:
//! a browser client re-implements them to predict its own player, so they are spelled out on [`World::step`] and
//! must change only together with the client.

use std::sync::Arc;

use glam::{IVec2, Vec2};
use slab::Slab;

use super::geom::{self, ceil_to_grid, floor_to_grid, Rect};
use super::grid::{PlayerGrid, WallGrid};
use super::map::Map;
use super::rng::Rng;
use super::trail::Trail;
use super::{aim_to_radians, snap, snap_toward_zero, BULLET_ID_BASE};

/// How many times a player's wall resolution may run before the tick gives up on a tight spot (each pass gathers
/// the walls near the current position again, so a push into a neighbouring wall is seen).
const MAX_PUSH_PASSES: usize = 4;

/// How many random spawn points are compared when choosing where a player appears.
const SPAWN_CANDIDATES: usize = 3;

/// A player's identity: its slab slot plus the world-wide generation it was created with, so an id kept after the
/// player left never names the player that later reuses the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayerId {
    /// Slot in the world's player slab (reused after the player leaves).
    pub slot: u32,
    /// The world's entity counter when the player was created (unique per entity).
    pub generation: u32,
}

impl PlayerId {
    /// The id on the wire: `slot + 1` (1..=65535 while the room keeps fewer than 65536 players).
    pub fn wire_id(self) -> u32 {
        self.slot + 1
    }
}

/// A bullet's identity: slab slot plus generation, as for [`PlayerId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BulletId {
    /// Slot in the world's bullet slab (reused after the bullet is gone).
    pub slot: u32,
    /// The world's entity counter when the bullet was fired (unique per entity).
    pub generation: u32,
}

impl BulletId {
    /// The id on the wire: [`BULLET_ID_BASE`]` + slot`.
    pub fn wire_id(self) -> u32 {
        BULLET_ID_BASE + self.slot
    }
}

/// What a player wants this tick. The world keeps the latest one and applies it every tick until replaced.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct PlayerInput {
    /// Desired direction, length at most 1 (see [`PlayerInput::sanitized`]).
    pub movement: Vec2,
    /// Aim, 65536 steps per turn from +x towards +y.
    pub aim: u16,
    /// Whether the trigger is held.
    pub fire: bool,
    /// How many ticks back (a multiple of 1/[`REWIND_STEPS`]) the shooter saw the other players when it made this
    /// input: bullets fired under it are tested against players where they were that long ago (lag compensation).
    /// 0 resolves shots in the present; anything beyond `rules.max_rewind_ticks` falls back to 0.
    pub rewind: f32,
}

impl PlayerInput {
    /// The input as the world stores it: a non-finite movement becomes zero and a movement longer than 1 is scaled
    /// to length 1.
    pub fn sanitized(self) -> PlayerInput {
        let movement = if !self.movement.is_finite() {
            Vec2::ZERO
        } else if self.movement.length_squared() > 1.0 {
            self.movement / self.movement.length()
        } else {
            self.movement
        };
        let rewind = if self.rewind.is_finite() && self.rewind > 0.0 { self.rewind } else { 0.0 };
        PlayerInput { movement, rewind, ..self }
    }
}

/// The game's constants, in world units, seconds and ticks.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// Radius of a player's circle.
    pub player_radius: f32,
    /// Acceleration at full input, units/s².
    pub accel: f32,
    /// Friction, 1/s: each tick the velocity is multiplied by `max(0, 1 - friction * dt)`.
    pub friction: f32,
    /// Speed cap, units/s.
    pub max_speed: f32,
    /// Radius of a bullet.
    pub bullet_radius: f32,
    /// Bullet speed, units/s.
    pub bullet_speed: f32,
    /// A bullet is removed once it is this many ticks old.
    pub bullet_lifetime_ticks: u32,
    /// Ticks between two shots of one player.
    pub fire_interval_ticks: u32,
    /// Hit points of a fresh player.
    pub max_hp: u8,
    /// Hit points one bullet takes.
    pub bullet_damage: u8,
    /// Ticks a dead player waits before respawning.
    pub respawn_ticks: u32,
    /// Seconds per tick (`1 / tick_rate`).
    pub dt: f32,
    /// The furthest back, in ticks, a shot is resolved for lag compensation (0 turns it off): an input whose
    /// rewind is larger is resolved in the present.
    pub max_rewind_ticks: u32,
}

impl Rules {
    /// Ticks per second (`1 / dt`, whole).
    pub fn tick_rate(&self) -> u32 {
        (1.0 / self.dt).round() as u32
    }

    /// The default rules at `tick_rate` ticks per second: player radius 16, acceleration 2400 u/s², friction 8/s,
    /// speed cap 260 u/s, bullet radius 4, bullet speed 900 u/s, bullet lifetime 1.2 s, one shot per 0.15 s,
    /// 100 hp, 20 damage per hit (five hits kill), respawn after 3 s, shots rewound by at most 200 ms. Durations
    /// become ticks rounded up, at least 1.
    ///
    /// Note that with this friction model the speed settles where acceleration and friction balance,
    /// `v = accel * dt * (1 - friction * dt) / (friction * dt)`: 220 u/s at 30 Hz, the 260 u/s cap from 60 Hz up.
    ///
    /// # Panics
    ///
    /// If `tick_rate` is outside `1..=240` (the configuration rejects such rates first).
    pub fn for_tick_rate(tick_rate: u32) -> Rules {
        assert!((1..=240).contains(&tick_rate), "tick rate must be between 1 and 240, got {tick_rate}");
        // Integer milliseconds keep the rounding exact (1.2 s * 30 is 36 ticks, not 37).
        let ticks = |millis: u32| (millis * tick_rate).div_ceil(1000).max(1);
        Rules {
            player_radius: 16.0,
            accel: 2400.0,
            friction: 8.0,
            max_speed: 260.0,
            bullet_radius: 4.0,
            bullet_speed: 900.0,
            bullet_lifetime_ticks: ticks(1200),
            fire_interval_ticks: ticks(150),
            max_hp: 100,
            bullet_damage: 20,
            respawn_ticks: ticks(3000),
            dt: 1.0 / tick_rate as f32,
            max_rewind_ticks: rewind_ticks(200, tick_rate),
        }
    }
}

/// `millis` of rewind in whole ticks at `tick_rate`, rounded up (0 stays 0: lag compensation off).
pub fn rewind_ticks(millis: u32, tick_rate: u32) -> u32 {
    (millis.saturating_mul(tick_rate)).div_ceil(1000)
}

/// A player in the world.
#[derive(Clone, Debug, PartialEq)]
pub struct Player {
    /// Its id.
    pub id: PlayerId,
    /// Display name, as given to [`World::add_player`].
    pub name: Arc<str>,
    /// Centre, on the 1/16 grid.
    pub pos: Vec2,
    /// Velocity in units/s, on the 1/16 grid.
    pub vel: Vec2,
    /// Aim of the last tick it was alive.
    pub aim: u16,
    /// Hit points; 0 while dead.
    pub hp: u8,
    /// Kills.
    pub score: i32,
    /// Ticks until it respawns; 0 while alive.
    pub respawn_ticks: u32,
    /// The latest input (kept while dead, reset on respawn).
    pub input: PlayerInput,
    /// Its client's socket is gone and its seat is held for a resume; it is replicated, not simulated differently
    /// (the room sets its input to neutral, so it stands still).
    pub disconnected: bool,
    /// Ticks until it may fire again.
    cooldown: u32,
    /// The tick it last died (its respawn countdown starts the tick after).
    died_at: u32,
    /// The first tick of its current life (the tick it joined or last respawned): a rewound shot only hits a
    /// player whose life began at or before the time the shooter saw.
    alive_since: u32,
}

impl Player {
    /// Whether the player is in play (hp above 0).
    pub fn is_alive(&self) -> bool {
        self.hp > 0
    }
}

/// A bullet in flight. It moves in a straight line at constant velocity: at tick `t` it is at
/// `origin + vel * ((t - spawn_tick) * dt)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bullet {
    /// Its id.
    pub id: BulletId,
    /// Who fired it (possibly stale: the shooter may have left).
    pub owner: PlayerId,
    /// Position at `spawn_tick`, on the 1/16 grid.
    pub origin: Vec2,
    /// Velocity, units/s, on the 1/16 grid.
    pub vel: Vec2,
    /// The tick it was fired.
    pub spawn_tick: u32,
    /// Position at the world's current tick.
    pub pos: Vec2,
    /// Ticks back its owner saw the other players when firing it (lag compensation): for its whole flight it is
    /// tested against players where they were that long before each tick. 0: the present.
    pub rewind: f32,
}

/// Something that happened, for the clients' feeds.
#[derive(Clone, Debug, PartialEq)]
pub enum GameEvent {
    /// `killer`'s bullet took `victim`'s last hit point. `killer` may be stale if the shooter had left.
    Kill {
        /// The bullet's owner.
        killer: PlayerId,
        /// The player who died.
        victim: PlayerId,
    },
    /// A player entered the world.
    Join {
        /// The new player.
        player: PlayerId,
        /// Its name.
        name: Arc<str>,
    },
    /// A player left the world.
    Leave {
        /// The player who left (now stale).
        player: PlayerId,
    },
}

/// A bullet of `shooter` hit `victim` in `tick` (every hit, the killing one included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShotHit {
    pub tick: u32,
    /// The bullet's owner (possibly stale: the shooter may have left).
    pub shooter: PlayerId,
    pub victim: PlayerId,
}

/// An event and the tick whose snapshot first shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedEvent {
    /// The tick.
    pub tick: u32,
    /// What happened.
    pub event: GameEvent,
}

/// The whole simulated world. See the module docs; one owner mutates it, one tick at a time.
#[derive(Clone, Debug)]
pub struct World {
    map: Map,
    rules: Rules,
    /// The last completed tick.
    tick: u32,
    rng: Rng,
    /// The last generation handed out.
    generation: u32,
    players: Slab<Player>,
    bullets: Slab<Bullet>,
    events: Vec<TimedEvent>,
    /// Bullets that hit a player, since the last `drain_hits`.
    hits: Vec<ShotHit>,
    /// Recent player positions, for rewound shots (empty when `rules.max_rewind_ticks` is 0).
    trail: Trail,
    /// The walls as rectangles, in map order.
    walls: Vec<Rect>,
    /// The walls grown by the bullet radius: where a bullet's centre touches a wall.
    bullet_walls: Vec<Rect>,
    /// Where a bullet's centre may be without touching a world edge.
    bullet_space: Rect,
    wall_grid: WallGrid,
    player_grid: PlayerGrid,
    /// Scratch: walls near the player being moved.
    near_walls: Vec<u32>,
    /// Scratch: bullets to remove at the end of the bullet pass, or players to respawn.
    scratch_slots: Vec<usize>,
    /// Test hook: find bullet hits by checking every player instead of the grid.
    #[cfg(test)]
    brute_force: bool,
}

impl World {
    /// An empty world on `map` (which should be valid, see [`Map::validate`]; a map without spawn points makes players
    /// appear at its centre), playing by `rules`, with every random choice drawn from `seed`.
    pub fn new(map: Map, rules: Rules, seed: u64) -> World {
        let (width, height) = (map.width as f32, map.height as f32);
        let walls: Vec<Rect> = map.walls.iter().map(Rect::from_wall).collect();
        let bullet_walls = walls.iter().map(|w| w.inflate(rules.bullet_radius)).collect();
        let bullet_space = Rect {
            min: Vec2::splat(rules.bullet_radius),
            max: Vec2::new(width - rules.bullet_radius, height - rules.bullet_radius),
        };
        let wall_grid = WallGrid::new(width, height, &walls);
        // Cells at least as wide as a bullet's query box, so a query touches at most 2 x 2 cells.
        let travel = rules.bullet_speed.abs() * rules.dt;
        let reach = 2.0 * (rules.player_radius + rules.bullet_radius);
        let player_grid = PlayerGrid::new(width, height, (travel + reach).max(128.0).ceil());
        let trail = Trail::new(match rules.max_rewind_ticks {
            0 => 0,
            // The ticks a rewind of up to the maximum can fall between, the present excluded.
            ticks => ticks as usize + 1,
        });
        World {
            map,
            rules,
            tick: 0,
            rng: Rng::new(seed),
            generation: 0,
            players: Slab::new(),
            bullets: Slab::new(),
            events: Vec::new(),
            hits: Vec::new(),
            trail,
            walls,
            bullet_walls,
            bullet_space,
            wall_grid,
            player_grid,
            near_walls: Vec::new(),
            scratch_slots: Vec::new(),
            #[cfg(test)]
            brute_force: false,
        }
    }

    /// The last completed tick; 0 before the first [`World::step`].
    pub fn tick(&self) -> u32 {
        self.tick
    }

    /// The map the world was built on.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Adds a player, alive at a spawn point chosen as on respawn, with full hp. Emits `Join` stamped `tick() + 1`
    /// (the first snapshot that shows the player).
    pub fn add_player(&mut self, name: &str) -> PlayerId {
        let pos = choose_spawn(&self.map, &self.players, &mut self.rng);
        let generation = self.next_generation();
        let entry = self.players.vacant_entry();
        let id = PlayerId { slot: entry.key() as u32, generation };
        let name: Arc<str> = Arc::from(name);
        entry.insert(Player {
            id,
            name: name.clone(),
            pos,
            vel: Vec2::ZERO,
            aim: 0,
            hp: self.rules.max_hp,
            score: 0,
            respawn_ticks: 0,
            input: PlayerInput::default(),
            disconnected: false,
            cooldown: 0,
            died_at: 0,
            alive_since: self.tick.wrapping_add(1),
        });
        self.events.push(TimedEvent { tick: self.tick.wrapping_add(1), event: GameEvent::Join { player: id, name } });
        id
    }

    /// Removes a player; false if `id` is unknown or stale. Emits `Leave` stamped `tick() + 1`. Its bullets keep
    /// flying; a kill they score names the stale id and adds to nobody's score.
    pub fn remove_player(&mut self, id: PlayerId) -> bool {
        if self.player(id).is_none() {
            return false;
        }
        self.players.remove(id.slot as usize);
        self.events.push(TimedEvent { tick: self.tick.wrapping_add(1), event: GameEvent::Leave { player: id } });
        true
    }

    /// Replaces a player's input (see [`PlayerInput::sanitized`]); false if `id` is unknown or stale. A dead player's
    /// input is stored but ignored until it respawns, which resets it. A rewind beyond `rules.max_rewind_ticks`
    /// becomes 0: such a shot is resolved in the present.
    pub fn set_input(&mut self, id: PlayerId, input: PlayerInput) -> bool {
        let max_rewind = self.rules.max_rewind_ticks as f32;
        match self.players.get_mut(id.slot as usize) {
            Some(player) if player.id == id => {
                let mut input = input.sanitized();
                if input.rewind > max_rewind {
                    input.rewind = 0.0;
                }
                player.input = input;
                true
            }
            _ => false,
        }
    }

    /// Marks a player as having lost (or regained) its client; false if `id` is unknown or stale.
    pub fn set_disconnected(&mut self, id: PlayerId, disconnected: bool) -> bool {
        match self.players.get_mut(id.slot as usize) {
            Some(player) if player.id == id => {
                player.disconnected = disconnected;
                true
            }
            _ => false,
        }
    }

    /// The player with this id, or `None` if it left (a stale generation included).
    pub fn player(&self, id: PlayerId) -> Option<&Player> {
        self.players.get(id.slot as usize).filter(|p| p.id == id)
    }

    /// All players, alive or dead, in slot order.
    pub fn players(&self) -> impl Iterator<Item = &Player> + '_ {
        self.players.iter().map(|(_, p)| p)
    }

    /// All bullets in flight, in slot order.
    pub fn bullets(&self) -> impl Iterator<Item = &Bullet> + '_ {
        self.bullets.iter().map(|(_, b)| b)
    }

    /// Number of players, alive or dead.
    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    /// Number of bullets in flight.
    pub fn bullet_count(&self) -> usize {
        self.bullets.len()
    }

    /// Takes the events emitted since the last call, oldest first.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, TimedEvent> {
        self.events.drain(..)
    }

    /// Takes the bullet hits since the last call, oldest first (for the shooters' hit confirmations).
    pub fn drain_hits(&mut self) -> std::vec::Drain<'_, ShotHit> {
        self.hits.drain(..)
    }

    /// Heap bytes of the lag-compensation trail.
    pub fn trail_bytes(&self) -> usize {
        self.trail.heap_bytes()
    }

    /// Advances the world by one tick of `rules.dt` seconds: `tick += 1`, then four passes in this order.
    ///
    /// 1. **Movement**, each alive player in slot order, with `r = player_radius`:
    ///    - `vel += input.movement * accel * dt` (the movement has length at most 1);
    ///    - `vel *= max(0, 1 - friction * dt)`;
    ///    - if `|vel| > max_speed`, `vel *= max_speed / |vel|`;
    ///    - `pos = snap(pos + vel * dt)` (each component rounded to the nearest 1/16);
    ///    - walls: up to 4 passes, each over the walls within reach in map order, pushing the circle out of every
    ///      wall it overlaps along the shortest axis and zeroing that velocity component (exact rule on
    ///      `geom::push_circle_out`: pushed coordinates are rounded away from the wall onto the 1/16 grid); a pass
    ///      that pushes nothing ends the loop;
    ///    - edges: `pos.x` is clamped to `ceil16(r)..=floor16(width - r)` and `pos.y` likewise, zeroing `vel.x` /
    ///      `vel.y` when clamped;
    ///    - `pos = snap(pos)` (already on the grid), `vel = snap_toward_zero(vel)` (each component rounded towards
    ///      zero to a multiple of 1/16, so friction ends in a full stop), `aim = input.aim`.
    ///
    ///    Players do not collide with each other.
    /// 2. **Firing**, each alive player in slot order: the cooldown drops by 1 if above 0; then if `input.fire` and
    ///    the cooldown is 0, with `dir = (cos a, sin a)` for the aim angle `a`, a bullet is fired from
    ///    `origin = snap(pos + dir * (player_radius + bullet_radius + 1))` with `vel = snap(dir * bullet_speed)` and
    ///    `spawn_tick = tick`, and the cooldown becomes `fire_interval_ticks`. A shot whose bullet would start
    ///    touching a wall or an edge is lost (the cooldown still applies).
    /// 3. **Bullets**, in slot order, except those fired this tick: `pos = origin + vel * ((tick - spawn_tick) * dt)`,
    ///    then the segment from the previous position is swept against the walls and edges (for the bullet's
    ///    circle) and every alive player but the owner (circles of `player_radius + bullet_radius`). The earliest
    ///    contact wins (a wall wins a tie; among players, the lower slot). A bullet that touched anything is
    ///    removed, and so is one that is now `bullet_lifetime_ticks` old. A hit player loses `bullet_damage` hp; at
    ///    0 it dies: `respawn_ticks = rules.respawn_ticks`, `vel = 0`, the owner (if still present) scores 1, and a
    ///    `Kill` event is stamped with this tick. A player killed earlier in the pass is no longer hit.
    /// 4. **Respawns**, each dead player in slot order that did not die this tick: `respawn_ticks -= 1`; at 0 it
    ///    reappears at a spawn point with full hp, zero velocity, no cooldown and a reset input. So a player that
    ///    dies at tick `T` is back at tick `T + respawn_ticks`. The spawn point is the best of 3 drawn from the
    ///    seeded generator: the one farthest from the nearest alive player (the first drawn on a tie).
    pub fn step(&mut self) {
        self.tick = self.tick.wrapping_add(1);
        self.move_players();
        self.fire();
        self.move_bullets();
        self.respawn();
        self.trail.record(self.tick, &self.players);
    }

    /// A fresh generation for a new entity.
    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// Step pass 1.
    fn move_players(&mut self) {
        let bounds = movement_bounds(&self.map, self.rules.player_radius);
        for (_, player) in self.players.iter_mut() {
            if !player.is_alive() {
                continue;
            }
            let moved = move_body(
                (player.pos, player.vel),
                player.input.movement,
                &self.rules,
                &self.walls,
                &self.wall_grid,
                bounds,
                &mut self.near_walls,
            );
            (player.pos, player.vel) = moved;
            player.aim = player.input.aim;
        }
    }

    /// Step pass 2.
    fn fire(&mut self) {
        let rules = &self.rules;
        let muzzle = rules.player_radius + rules.bullet_radius + 1.0;
        for (_, player) in self.players.iter_mut() {
            if !player.is_alive() {
                continue;
            }
            player.cooldown = player.cooldown.saturating_sub(1);
            if !player.input.fire || player.cooldown > 0 {
                continue;
            }
            player.cooldown = rules.fire_interval_ticks;
            let angle = aim_to_radians(player.aim);
            let dir = Vec2::new(angle.cos(), angle.sin());
            let origin = snap(player.pos + dir * muzzle);
            if !self.bullet_space.contains_strictly(origin) {
                continue;
            }
            let mut blocked = false;
            let walls = &self.bullet_walls;
            self.wall_grid.for_each_near(Rect { min: origin, max: origin }.inflate(rules.bullet_radius), |w| {
                blocked |= walls[w as usize].contains(origin);
            });
            if blocked {
                continue;
            }
            self.generation = self.generation.wrapping_add(1);
            let entry = self.bullets.vacant_entry();
            let id = BulletId { slot: entry.key() as u32, generation: self.generation };
            entry.insert(Bullet {
                id,
                owner: player.id,
                origin,
                vel: snap(dir * rules.bullet_speed),
                spawn_tick: self.tick,
                pos: origin,
                rewind: player.input.rewind,
            });
        }
    }

    /// Step pass 3.
    fn move_bullets(&mut self) {
        let tick = self.tick;
        let rules = &self.rules;
        let hit_radius = rules.player_radius + rules.bullet_radius;
        let players = &mut self.players;
        self.player_grid.rebuild(players.iter().filter(|(_, p)| p.is_alive()).map(|(slot, p)| (slot as u32, p.pos)));
        self.scratch_slots.clear();
        #[cfg(test)]
        let brute_force = self.brute_force;
        #[cfg(not(test))]
        let brute_force = false;
        for (slot, bullet) in self.bullets.iter_mut() {
            if bullet.spawn_tick == tick {
                continue;
            }
            let age = tick.wrapping_sub(bullet.spawn_tick);
            let prev = bullet.pos;
            bullet.pos = bullet.origin + bullet.vel * (age as f32 * rules.dt);
            let delta = bullet.pos - prev;
            let sweep = Rect { min: prev.min(bullet.pos), max: prev.max(bullet.pos) };

            let mut wall_t = geom::segment_exit(prev, delta, self.bullet_space).unwrap_or(f32::INFINITY);
            let walls = &self.bullet_walls;
            self.wall_grid.for_each_near(sweep.inflate(rules.bullet_radius), |w| {
                if let Some(t) = geom::segment_rect(prev, delta, walls[w as usize]) {
                    wall_t = wall_t.min(t);
                }
            });

            let mut hit: Option<(f32, u32)> = None;
            let mut consider = |victim: u32, center: Vec2| {
                if let Some(t) = geom::segment_circle(prev, delta, center, hit_radius) {
                    if hit.is_none_or(|(best_t, best)| t < best_t || (t == best_t && victim < best)) {
                        hit = Some((t, victim));
                    }
                }
            };
            let owner = bullet.owner;
            let target = |victim: u32| players.get(victim as usize).filter(|p| p.id != owner && p.is_alive());
            if bullet.rewind > 0.0 {
                // Where the shooter saw the others: `rewind` ticks before this one, between two recorded ticks.
                let seen = Seen::new(tick, bullet.rewind);
                let trail = &self.trail;
                let mut rewound = |victim: u32| {
                    let Some(player) = target(victim).filter(|p| !tick_after(p.alive_since, seen.tick)) else { return };
                    let at = |t: u32| if t == tick { Some(player.pos) } else { trail.at(t, victim as usize) };
                    if let (Some(from), Some(to)) = (at(seen.tick), at(seen.tick.wrapping_add(1))) {
                        consider(victim, from.lerp(to, seen.alpha));
                    }
                };
                if brute_force {
                    players.iter().for_each(|(victim, _)| rewound(victim as u32));
                } else {
                    // Candidates from the present grid, widened by how far anyone can have moved since.
                    let moved = rules.max_speed * bullet.rewind * rules.dt + rules.player_radius;
                    let reach = sweep.inflate(hit_radius + moved);
                    self.player_grid.for_each_near(reach, |victim, _| rewound(victim));
                }
            } else if brute_force {
                for (victim, player) in players.iter() {
                    if target(victim as u32).is_some() {
                        consider(victim as u32, player.pos);
                    }
                }
            } else {
                self.player_grid.for_each_near(sweep.inflate(hit_radius), |victim, center| {
                    if target(victim).is_some() {
                        consider(victim, center);
                    }
                });
            }

            match hit {
                Some((t, victim)) if t < wall_t => {
                    let victim = &mut players[victim as usize];
                    self.hits.push(ShotHit { tick, shooter: bullet.owner, victim: victim.id });
                    victim.hp = victim.hp.saturating_sub(rules.bullet_damage);
                    if victim.hp == 0 {
                        victim.respawn_ticks = rules.respawn_ticks;
                        victim.vel = Vec2::ZERO;
                        victim.died_at = tick;
                        let victim = victim.id;
                        let killer = bullet.owner;
                        if let Some(shooter) = players.get_mut(killer.slot as usize).filter(|p| p.id == killer) {
                            shooter.score += 1;
                        }
                        self.events.push(TimedEvent { tick, event: GameEvent::Kill { killer, victim } });
                    }
                    self.scratch_slots.push(slot);
                }
                _ if wall_t <= 1.0 || age >= rules.bullet_lifetime_ticks => self.scratch_slots.push(slot),
                _ => {}
            }
        }
        for &slot in &self.scratch_slots {
            self.bullets.remove(slot);
        }
    }

    /// Step pass 4.
    fn respawn(&mut self) {
        self.scratch_slots.clear();
        for (slot, player) in self.players.iter_mut() {
            if player.is_alive() || player.died_at == self.tick {
                continue;
            }
            player.respawn_ticks = player.respawn_ticks.saturating_sub(1);
            if player.respawn_ticks == 0 {
                self.scratch_slots.push(slot);
            }
        }
        for &slot in &self.scratch_slots {
            let pos = choose_spawn(&self.map, &self.players, &mut self.rng);
            let player = &mut self.players[slot];
            player.pos = pos;
            player.vel = Vec2::ZERO;
            player.hp = self.rules.max_hp;
            player.respawn_ticks = 0;
            player.cooldown = 0;
            player.input = PlayerInput::default();
            player.alive_since = self.tick;
        }
    }
}

/// The moment a rewound bullet is resolved at: `alpha` of the way from `tick` to `tick + 1`.
struct Seen {
    tick: u32,
    alpha: f32,
}

impl Seen {
    /// `rewind` ticks (positive) before `now`.
    fn new(now: u32, rewind: f32) -> Seen {
        let whole = rewind.floor();
        let frac = rewind - whole;
        let back = whole as u32 + u32::from(frac > 0.0);
        Seen { tick: now.wrapping_sub(back), alpha: if frac > 0.0 { 1.0 - frac } else { 0.0 } }
    }
}

/// Whether tick `a` comes after tick `b` (ticks wrap around like the wire's).
fn tick_after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < u32::MAX / 2
}

/// Where a player's centre may be: `(ceil16(r), ceil16(r))..=(floor16(width - r), floor16(height - r))`.
fn movement_bounds(map: &Map, r: f32) -> (Vec2, Vec2) {
    let lo = Vec2::splat(ceil_to_grid(r));
    let hi = Vec2::new(floor_to_grid(map.width as f32 - r), floor_to_grid(map.height as f32 - r));
    (lo, hi)
}

/// One tick of one player's movement (step pass 1, spelled out on [`World::step`]): `(pos, vel)` after it.
fn move_body(
    (pos, vel): (Vec2, Vec2),
    movement: Vec2,
    rules: &Rules,
    walls: &[Rect],
    wall_grid: &WallGrid,
    (lo, hi): (Vec2, Vec2),
    near: &mut Vec<u32>,
) -> (Vec2, Vec2) {
    let (dt, r) = (rules.dt, rules.player_radius);
    let damping = (1.0 - rules.friction * dt).max(0.0);
    let mut vel = vel + movement * (rules.accel * dt);
    vel *= damping;
    let speed = vel.length();
    if speed > rules.max_speed {
        vel *= rules.max_speed / speed;
    }
    let mut pos = snap(pos + vel * dt);
    resolve_walls(&mut pos, &mut vel, r, walls, wall_grid, near);
    if pos.x < lo.x || pos.x > hi.x {
        pos.x = pos.x.clamp(lo.x, hi.x);
        vel.x = 0.0;
    }
    if pos.y < lo.y || pos.y > hi.y {
        pos.y = pos.y.clamp(lo.y, hi.y);
        vel.y = 0.0;
    }
    (snap(pos), snap_toward_zero(vel))
}

/// A player's movement alone, outside a world: what a client predicting its own player runs (the bots' play-feel
/// measurements use it), with exactly the world's formula.
#[derive(Clone, Debug)]
pub struct Mover {
    rules: Rules,
    walls: Vec<Rect>,
    wall_grid: WallGrid,
    bounds: (Vec2, Vec2),
    near: Vec<u32>,
}

impl Mover {
    pub fn new(map: &Map, rules: &Rules) -> Mover {
        let walls: Vec<Rect> = map.walls.iter().map(Rect::from_wall).collect();
        let wall_grid = WallGrid::new(map.width as f32, map.height as f32, &walls);
        let bounds = movement_bounds(map, rules.player_radius);
        Mover { rules: rules.clone(), walls, wall_grid, bounds, near: Vec::new() }
    }

    /// `(pos, vel)` one tick later under `input` (sanitized as the world does).
    pub fn step(&mut self, state: (Vec2, Vec2), input: PlayerInput) -> (Vec2, Vec2) {
        let movement = input.sanitized().movement;
        move_body(state, movement, &self.rules, &self.walls, &self.wall_grid, self.bounds, &mut self.near)
    }
}

/// Pushes a player's circle out of the walls near it (step pass 1; see [`geom::push_circle_out`]).
fn resolve_walls(pos: &mut Vec2, vel: &mut Vec2, r: f32, walls: &[Rect], grid: &WallGrid, near: &mut Vec<u32>) {
    for _pass in 0..MAX_PUSH_PASSES {
        near.clear();
        let reach = Rect { min: *pos, max: *pos }.inflate(r + 1.0);
        grid.for_each_near(reach, |w| near.push(w));
        // Map order, once each: the result must not depend on how walls fall into cells.
        near.sort_unstable();
        near.dedup();
        let mut pushed = false;
        for &w in near.iter() {
            pushed |= geom::push_circle_out(pos, vel, walls[w as usize], r);
        }
        if !pushed {
            break;
        }
    }
}

/// Picks where a player appears: of [`SPAWN_CANDIDATES`] spawn points drawn at random, the one whose nearest alive
/// player is farthest (the first drawn on a tie, e.g. when nobody is alive). The map's centre if it has no spawns.
fn choose_spawn(map: &Map, players: &Slab<Player>, rng: &mut Rng) -> Vec2 {
    if map.spawns.is_empty() {
        return snap(IVec2::new(map.width, map.height).as_vec2() / 2.0);
    }
    let mut best = Vec2::ZERO;
    let mut best_distance = f32::NEG_INFINITY;
    for _ in 0..SPAWN_CANDIDATES {
        let spawn = map.spawns[rng.below(map.spawns.len() as u64) as usize].as_vec2();
        let nearest = players
            .iter()
            .filter(|(_, p)| p.is_alive())
            .map(|(_, p)| p.pos.distance_squared(spawn))
            .fold(f32::INFINITY, f32::min);
        if nearest > best_distance {
            best = spawn;
            best_distance = nearest;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{radians_to_aim, Wall};

    const RIGHT: u16 = 0;
    const LEFT: u16 = 32768;

    fn open_map(width: i32, height: i32) -> Map {
        Map { name: "test".into(), width, height, walls: Vec::new(), spawns: vec![IVec2::new(width / 2, height / 2)] }
    }

    fn world(map: Map) -> World {
        World::new(map, Rules::for_tick_rate(30), 1)
    }

    fn place(world: &mut World, id: PlayerId, x: f32, y: f32) {
        let player = &mut world.players[id.slot as usize];
        player.pos = Vec2::new(x, y);
        player.vel = Vec2::ZERO;
    }

    fn input(movement: Vec2, aim: u16, fire: bool) -> PlayerInput {
        PlayerInput { movement, aim, fire, rewind: 0.0 }
    }

    fn on_grid(v: Vec2) -> bool {
        (v * 16.0).round() == v * 16.0
    }

    /// How far a player's circle sinks into the nearest wall or past an edge (0 when it does not).
    fn overlap(world: &World, pos: Vec2) -> f32 {
        let r = world.rules.player_radius;
        let (w, h) = (world.map.width as f32, world.map.height as f32);
        let mut worst = (r - pos.x).max(r - pos.y).max(pos.x + r - w).max(pos.y + r - h).max(0.0);
        for wall in &world.walls {
            let distance = (pos - pos.clamp(wall.min, wall.max)).length();
            worst = worst.max(r - distance);
        }
        worst
    }

    #[test]
    fn rules_convert_seconds_to_ticks() {
        let r30 = Rules::for_tick_rate(30);
        assert_eq!((r30.fire_interval_ticks, r30.bullet_lifetime_ticks, r30.respawn_ticks), (5, 36, 90));
        assert_eq!(r30.dt, 1.0 / 30.0);
        let r60 = Rules::for_tick_rate(60);
        assert_eq!((r60.fire_interval_ticks, r60.bullet_lifetime_ticks, r60.respawn_ticks), (9, 72, 180));
        let r1 = Rules::for_tick_rate(1);
        assert_eq!((r1.fire_interval_ticks, r1.bullet_lifetime_ticks, r1.respawn_ticks), (1, 2, 3));
        let r240 = Rules::for_tick_rate(240);
        assert_eq!((r240.fire_interval_ticks, r240.bullet_lifetime_ticks, r240.respawn_ticks), (36, 288, 720));
        assert_eq!((r30.max_hp, r30.bullet_damage, r30.player_radius), (100, 20, 16.0));
    }

    #[test]
    #[should_panic(expected = "tick rate must be between 1 and 240, got 0")]
    fn rules_reject_a_zero_tick_rate() {
        Rules::for_tick_rate(0);
    }

    #[test]
    fn ids_carry_generations() {
        let mut w = world(open_map(800, 600));
        assert_eq!(w.tick(), 0);
        let a = w.add_player("a");
        let b = w.add_player("b");
        assert_eq!((a.slot, b.slot), (0, 1));
        assert_eq!((a.wire_id(), b.wire_id()), (1, 2));
        assert!(w.remove_player(a));
        assert!(!w.remove_player(a), "a stale id is refused");
        assert!(w.player(a).is_none());
        let c = w.add_player("c");
        assert_eq!(c.slot, 0, "the slot is reused");
        assert_ne!(c.generation, a.generation);
        assert!(w.player(a).is_none());
        assert!(!w.set_input(a, PlayerInput::default()));
        assert_eq!(w.player(c).unwrap().name.as_ref(), "c");
        assert_eq!(w.players().map(|p| p.id).collect::<Vec<_>>(), vec![c, b]);
        assert_eq!(BulletId { slot: 3, generation: 9 }.wire_id(), 65539);

        let events: Vec<_> = w.drain_events().collect();
        assert_eq!(
            events,
            vec![
                TimedEvent { tick: 1, event: GameEvent::Join { player: a, name: "a".into() } },
                TimedEvent { tick: 1, event: GameEvent::Join { player: b, name: "b".into() } },
                TimedEvent { tick: 1, event: GameEvent::Leave { player: a } },
                TimedEvent { tick: 1, event: GameEvent::Join { player: c, name: "c".into() } },
            ]
        );
        assert_eq!(w.drain_events().count(), 0);
        w.step();
        w.remove_player(b);
        assert_eq!(w.drain_events().next().unwrap().tick, 2);
    }

    #[test]
    fn set_input_clamps_and_rejects_non_finite_movement() {
        let mut w = world(open_map(800, 600));
        let id = w.add_player("p");
        assert!(w.set_input(id, input(Vec2::new(3.0, 4.0), 7, true)));
        let stored = w.player(id).unwrap().input;
        assert!((stored.movement - Vec2::new(0.6, 0.8)).length() < 1e-6);
        assert_eq!((stored.aim, stored.fire), (7, true));
        w.set_input(id, input(Vec2::new(f32::NAN, 0.5), 0, false));
        assert_eq!(w.player(id).unwrap().input.movement, Vec2::ZERO);
        w.set_input(id, input(Vec2::new(f32::INFINITY, 0.0), 0, false));
        assert_eq!(w.player(id).unwrap().input.movement, Vec2::ZERO);
        w.set_input(id, input(Vec2::new(0.3, -0.4), 0, false));
        assert_eq!(w.player(id).unwrap().input.movement, Vec2::new(0.3, -0.4));
    }

    #[test]
    fn accelerates_to_the_balance_speed_and_the_cap() {
        // Default rules at 30 Hz: speed settles at accel*dt*(1 - f*dt)/(f*dt) = 220 u/s, below the cap.
        let mut w = world(open_map(20_000, 600));
        let id = w.add_player("p");
        place(&mut w, id, 100.0, 300.0);
        w.set_input(id, input(Vec2::X, RIGHT, false));
        let mut last_speed = 0.0;
        for _ in 0..60 {
            w.step();
            let p = w.player(id).unwrap();
            assert!(p.vel.x >= last_speed, "speed only grows");
            assert!(p.vel.length() <= w.rules.max_speed);
            assert_eq!(p.vel.y, 0.0);
            last_speed = p.vel.x;
        }
        // Snapping stops the climb once a tick would add less than 1/16: within 1/(16 * friction * dt) of 220.
        assert!((219.7..220.0).contains(&last_speed), "settled at {last_speed}");

        // With a lower cap the player reaches exactly the cap.
        let mut rules = Rules::for_tick_rate(30);
        rules.max_speed = 150.0;
        let mut w = World::new(open_map(20_000, 600), rules, 1);
        let id = w.add_player("p");
        place(&mut w, id, 100.0, 300.0);
        w.set_input(id, input(Vec2::new(1.0, 1.0).normalize(), RIGHT, false));
        for _ in 0..30 {
            w.step();
        }
        let p = w.player(id).unwrap();
        assert!((p.vel.length() - 150.0).abs() <= 0.1, "{}", p.vel.length());

        // At 60 Hz the default cap binds.
        let mut w = World::new(open_map(20_000, 600), Rules::for_tick_rate(60), 1);
        let id = w.add_player("p");
        place(&mut w, id, 100.0, 300.0);
        w.set_input(id, input(Vec2::X, RIGHT, false));
        for _ in 0..120 {
            w.step();
        }
        let speed = w.player(id).unwrap().vel.x;
        assert!((259.5..=260.0).contains(&speed), "settled at {speed}");
    }

    #[test]
    fn movement_follows_the_documented_formula() {
        let mut w = world(open_map(2000, 2000));
        let id = w.add_player("p");
        place(&mut w, id, 1000.0, 1000.0);
        let movement = Vec2::new(0.5, -0.25);
        w.set_input(id, input(movement, 1234, false));
        let rules = w.rules.clone();
        let (mut pos, mut vel) = (Vec2::new(1000.0, 1000.0), Vec2::ZERO);
        for _ in 0..20 {
            vel = (vel + movement * (rules.accel * rules.dt)) * (1.0 - rules.friction * rules.dt);
            pos = snap(pos + vel * rules.dt);
            vel = snap_toward_zero(vel);
            w.step();
            let p = w.player(id).unwrap();
            assert_eq!((p.pos, p.vel, p.aim), (pos, vel, 1234));
        }
    }

    #[test]
    fn friction_stops_the_player() {
        let mut w = world(open_map(4000, 600));
        let id = w.add_player("p");
        place(&mut w, id, 100.0, 300.0);
        w.set_input(id, input(Vec2::X, RIGHT, false));
        for _ in 0..30 {
            w.step();
        }
        w.set_input(id, PlayerInput::default());
        let mut speed = w.player(id).unwrap().vel.length();
        for _ in 0..60 {
            w.step();
            let now = w.player(id).unwrap().vel.length();
            assert!(now <= speed);
            speed = now;
        }
        let rest = w.player(id).unwrap().pos;
        assert_eq!(w.player(id).unwrap().vel, Vec2::ZERO);
        w.step();
        assert_eq!(w.player(id).unwrap().pos, rest);
    }

    #[test]
    fn walls_and_edges_block_players() {
        // A block, an L made of two touching walls, and a one-tile gap between two walls.
        let mut map = open_map(1200, 800);
        map.walls = vec![
            Wall { x: 500, y: 300, w: 200, h: 100 },
            Wall { x: 100, y: 100, w: 200, h: 30 },
            Wall { x: 270, y: 130, w: 30, h: 150 },
            Wall { x: 800, y: 500, w: 100, h: 100 },
            Wall { x: 940, y: 500, w: 100, h: 100 },
        ];
        map.spawns = vec![IVec2::new(600, 600)];
        let mut w = world(map);
        let id = w.add_player("p");
        let directions: Vec<Vec2> =
            (0..16).map(|i| Vec2::from_angle(i as f32 * std::f32::consts::TAU / 16.0)).collect();
        let starts = [(400.0, 350.0), (800.0, 350.0), (600.0, 250.0), (600.0, 450.0), (200.0, 200.0), (920.0, 450.0)];
        for &(x, y) in &starts {
            for &dir in &directions {
                place(&mut w, id, x, y);
                w.set_input(id, input(dir, 0, false));
                for _ in 0..90 {
                    w.step();
                    let p = w.player(id).unwrap();
                    assert!(overlap(&w, p.pos) < 1e-3, "from ({x}, {y}) towards {dir}: {} overlaps", p.pos);
                    assert!(on_grid(p.pos) && on_grid(p.vel), "{} / {} off the grid", p.pos, p.vel);
                }
            }
        }
        // Pushing straight into the block stops flush against it.
        place(&mut w, id, 400.0, 350.0);
        w.set_input(id, input(Vec2::X, 0, false));
        for _ in 0..60 {
            w.step();
        }
        let p = w.player(id).unwrap();
        assert_eq!((p.pos, p.vel), (Vec2::new(484.0, 350.0), Vec2::ZERO));
        // Pushing into a world corner stops in the corner.
        place(&mut w, id, 1100.0, 700.0);
        w.set_input(id, input(Vec2::ONE.normalize(), 0, false));
        for _ in 0..60 {
            w.step();
        }
        let p = w.player(id).unwrap();
        assert_eq!((p.pos, p.vel), (Vec2::new(1184.0, 784.0), Vec2::ZERO));
        // Sliding along a wall keeps the parallel speed.
        place(&mut w, id, 520.0, 270.0);
        w.set_input(id, input(Vec2::new(0.6, 0.8), 0, false));
        for _ in 0..10 {
            w.step();
        }
        let p = w.player(id).unwrap();
        assert_eq!(p.pos.y, 284.0);
        assert!(p.vel.x > 50.0 && p.vel.y == 0.0, "{}", p.vel);
    }

    #[test]
    fn a_bullet_hits_a_player_in_line_of_sight() {
        let mut w = world(open_map(1000, 400));
        let shooter = w.add_player("shooter");
        let target = w.add_player("target");
        place(&mut w, shooter, 100.0, 200.0);
        place(&mut w, target, 600.0, 200.0);
        w.set_input(shooter, input(Vec2::ZERO, RIGHT, true));
        w.step();
        w.set_input(shooter, input(Vec2::ZERO, RIGHT, false));
        let bullet = *w.bullets().next().unwrap();
        assert_eq!((bullet.owner, bullet.spawn_tick), (shooter, 1));
        assert_eq!((bullet.origin, bullet.vel), (Vec2::new(121.0, 200.0), Vec2::new(900.0, 0.0)));
        // The bullet touches the target once its centre is within 20 of (600, 200): x >= 580, at age 16.
        for tick in 2..=16 {
            w.step();
            let pos = w.bullets().next().unwrap().pos;
            assert!(pos.distance(Vec2::new(121.0 + 30.0 * (tick - 1) as f32, 200.0)) < 1e-3, "{pos}");
            assert_eq!(w.player(target).unwrap().hp, 100);
        }
        w.step();
        assert_eq!(w.bullet_count(), 0);
        assert_eq!(w.player(target).unwrap().hp, 80);
        assert_eq!(w.player(shooter).unwrap().hp, 100);
        assert!(w.drain_events().all(|e| !matches!(e.event, GameEvent::Kill { .. })));
    }

    #[test]
    fn a_wall_stops_a_bullet() {
        let mut map = open_map(1000, 400);
        map.walls = vec![Wall { x: 350, y: 100, w: 30, h: 200 }];
        let mut w = world(map);
        let shooter = w.add_player("shooter");
        let target = w.add_player("target");
        place(&mut w, shooter, 100.0, 200.0);
        place(&mut w, target, 600.0, 200.0);
        w.set_input(shooter, input(Vec2::ZERO, RIGHT, true));
        w.step();
        w.set_input(shooter, input(Vec2::ZERO, RIGHT, false));
        // The bullet's edge reaches x = 350 when its centre is at 346: age 7.5, so it is gone at age 8.
        for _ in 0..7 {
            w.step();
            assert_eq!(w.bullet_count(), 1);
        }
        w.step();
        assert_eq!(w.bullet_count(), 0);
        for _ in 0..40 {
            w.step();
        }
        assert_eq!(w.player(target).unwrap().hp, 100);
    }

    #[test]
    fn a_shot_into_a_wall_or_edge_is_lost() {
        let mut map = open_map(1000, 400);
        map.walls = vec![Wall { x: 120, y: 100, w: 30, h: 200 }];
        let mut w = world(map);
        let id = w.add_player("p");
        place(&mut w, id, 100.0, 200.0);
        w.set_input(id, input(Vec2::ZERO, RIGHT, true));
        w.step();
        assert_eq!(w.bullet_count(), 0);
        assert_eq!(w.players[id.slot as usize].cooldown, 5, "the cooldown applies anyway");
        place(&mut w, id, 16.0, 200.0);
        w.set_input(id, input(Vec2::ZERO, LEFT, true));
        for _ in 0..20 {
            w.step();
        }
        assert_eq!(w.bullet_count(), 0);
    }

    #[test]
    fn fire_rate_is_limited() {
        let mut w = world(open_map(4000, 4000));
        let id = w.add_player("p");
        place(&mut w, id, 2000.0, 2000.0);
        w.set_input(id, input(Vec2::ZERO, radians_to_aim(1.0), true));
        let mut fired = Vec::new();
        for _ in 0..60 {
            w.step();
            fired.extend(w.bullets().filter(|b| b.spawn_tick == w.tick()).map(|b| b.spawn_tick));
        }
        // One shot every fire_interval_ticks (5 at 30 Hz): ticks 1, 6, 11, ..., 56.
        assert_eq!(fired, (0..12).map(|i| 1 + 5 * i).collect::<Vec<u32>>());
    }

    #[test]
    fn bullets_expire_after_their_lifetime() {
        let mut w = world(open_map(3000, 400));
        let id = w.add_player("p");
        place(&mut w, id, 100.0, 200.0);
        w.set_input(id, input(Vec2::ZERO, RIGHT, true));
        w.step();
        w.set_input(id, PlayerInput::default());
        for _ in 0..35 {
            w.step();
            assert_eq!(w.bullet_count(), 1);
        }
        assert!((w.bullets().next().unwrap().pos.x - (121.0 + 35.0 * 30.0)).abs() < 1e-3);
        w.step();
        assert_eq!(w.tick(), 37);
        assert_eq!(w.bullet_count(), 0, "gone at age 36 = bullet_lifetime_ticks");
    }

    #[test]
    fn five_hits_kill_then_the_victim_respawns() {
        let mut map = open_map(1000, 400);
        map.spawns = vec![IVec2::new(900, 100), IVec2::new(900, 300)];
        let mut w = world(map.clone());
        let shooter = w.add_player("shooter");
        let victim = w.add_player("victim");
        place(&mut w, shooter, 100.0, 200.0);
        place(&mut w, victim, 400.0, 200.0);
        w.set_input(shooter, input(Vec2::ZERO, RIGHT, true));
        w.set_input(victim, input(Vec2::ZERO, LEFT, false));
        w.drain_events().for_each(drop);
        let mut hp_seen = vec![100];
        let death_tick = loop {
            w.step();
            let hp = w.player(victim).unwrap().hp;
            if hp != *hp_seen.last().unwrap() {
                hp_seen.push(hp);
            }
            if hp == 0 {
                break w.tick();
            }
            assert!(w.tick() < 200, "the victim never died");
        };
        assert_eq!(hp_seen, vec![100, 80, 60, 40, 20, 0]);
        w.set_input(shooter, PlayerInput::default());
        let events: Vec<_> = w.drain_events().collect();
        assert_eq!(events, vec![TimedEvent { tick: death_tick, event: GameEvent::Kill { killer: shooter, victim } }]);
        let dead = w.player(victim).unwrap().clone();
        assert_eq!(w.player(shooter).unwrap().score, 1);
        assert_eq!((dead.respawn_ticks, dead.vel, dead.pos, dead.score), (90, Vec2::ZERO, Vec2::new(400.0, 200.0), 0));
        assert!(!dead.is_alive());

        // Dead: movement and fire are ignored but the input is kept.
        let wish = input(Vec2::Y, RIGHT, true);
        w.set_input(victim, wish);
        let bullets_before = w.bullet_count();
        for remaining in (1..90).rev() {
            w.step();
            let p = w.player(victim).unwrap();
            assert_eq!((p.respawn_ticks, p.hp, p.pos, p.input), (remaining, 0, dead.pos, wish));
            assert!(w.bullets().all(|b| b.owner != victim));
        }
        assert!(w.bullet_count() <= bullets_before);
        assert_eq!(w.tick(), death_tick + 89);
        w.step();
        let p = w.player(victim).unwrap().clone();
        assert_eq!(w.tick(), death_tick + 90);
        assert!(p.is_alive());
        assert_eq!((p.hp, p.respawn_ticks, p.vel, p.input), (100, 0, Vec2::ZERO, PlayerInput::default()));
        assert!(map.spawns.iter().any(|s| s.as_vec2() == p.pos), "respawned at {}", p.pos);
        // Alive again: it moves.
        w.set_input(victim, input(Vec2::X, RIGHT, false));
        w.step();
        assert_ne!(w.player(victim).unwrap().pos, p.pos);
    }

    #[test]
    fn a_bullet_never_hits_its_owner() {
        let mut w = world(open_map(2000, 400));
        let shooter = w.add_player("shooter");
        place(&mut w, shooter, 100.0, 200.0);
        w.set_input(shooter, input(Vec2::ZERO, RIGHT, true));
        w.step();
        w.set_input(shooter, PlayerInput::default());
        // Put the shooter right in the bullet's path.
        place(&mut w, shooter, 200.0, 200.0);
        for _ in 0..10 {
            w.step();
        }
        assert_eq!(w.player(shooter).unwrap().hp, 100);
        assert_eq!(w.bullet_count(), 1);
        // A player that reuses the owner's slot is somebody else: the bullet hits it.
        let pos = w.bullets().next().unwrap().pos + Vec2::new(60.0, 0.0);
        assert!(w.remove_player(shooter));
        let newcomer = w.add_player("newcomer");
        assert_eq!(newcomer.slot, shooter.slot);
        place(&mut w, newcomer, pos.x, pos.y);
        w.step();
        w.step();
        assert_eq!(w.player(newcomer).unwrap().hp, 80);
    }

    #[test]
    fn a_kill_by_a_departed_shooter_scores_nothing() {
        let mut w = world(open_map(1000, 400));
        let shooter = w.add_player("shooter");
        let victim = w.add_player("victim");
        place(&mut w, shooter, 100.0, 200.0);
        place(&mut w, victim, 400.0, 200.0);
        w.players[victim.slot as usize].hp = 20;
        w.set_input(shooter, input(Vec2::ZERO, RIGHT, true));
        w.step();
        assert!(w.remove_player(shooter));
        w.drain_events().for_each(drop);
        for _ in 0..15 {
            w.step();
        }
        assert!(!w.player(victim).unwrap().is_alive());
        let kills: Vec<_> = w.drain_events().map(|e| e.event).collect();
        assert_eq!(kills, vec![GameEvent::Kill { killer: shooter, victim }]);
        assert!(w.players().all(|p| p.score == 0));
    }

    #[test]
    fn the_earliest_hit_wins() {
        // Two targets in a row: only the nearer one is hit.
        let mut w = world(open_map(1000, 400));
        let shooter = w.add_player("shooter");
        let far = w.add_player("far");
        let near = w.add_player("near");
        place(&mut w, shooter, 100.0, 200.0);
        place(&mut w, far, 330.0, 200.0);
        place(&mut w, near, 300.0, 200.0);
        w.set_input(shooter, input(Vec2::ZERO, RIGHT, true));
        w.step();
        w.set_input(shooter, PlayerInput::default());
        for _ in 0..30 {
            w.step();
        }
        assert_eq!((w.player(near).unwrap().hp, w.player(far).unwrap().hp), (80, 100));
    }

    /// Plays `ticks` ticks of a scripted brawl: `n` players on `map` with inputs drawn from `script_seed`, some
    /// leaving and joining. Returns the world and every event.
    fn brawl(
        map: Map,
        world_seed: u64,
        script_seed: u64,
        n: usize,
        ticks: u32,
        brute: bool,
    ) -> (World, Vec<TimedEvent>) {
        let mut w = World::new(map, Rules::for_tick_rate(30), world_seed);
        w.brute_force = brute;
        let mut script = Rng::new(script_seed);
        let mut ids: Vec<PlayerId> = (0..n).map(|i| w.add_player(&format!("p{i}"))).collect();
        let mut events: Vec<TimedEvent> = w.drain_events().collect();
        for _ in 0..ticks {
            for &id in &ids {
                if script.below(4) == 0 {
                    let movement = Vec2::new(script.unit_f32() * 2.0 - 1.0, script.unit_f32() * 2.0 - 1.0);
                    let fire = script.below(3) != 0;
                    // Half the inputs rewound (lag compensation), by up to 5.25 ticks: both hit paths are played.
                    let rewind = (script.below(16) as f32 - 8.0).max(0.0) * 0.75;
                    w.set_input(id, PlayerInput { rewind, ..input(movement, script.next_u64() as u16, fire) });
                }
            }
            if script.below(40) == 0 {
                let leaving = ids.swap_remove(script.below(ids.len() as u64) as usize);
                assert!(w.remove_player(leaving));
                ids.push(w.add_player("late"));
            }
            w.step();
            events.extend(w.drain_events());
            for p in w.players() {
                assert!(on_grid(p.pos) && on_grid(p.vel));
                assert!(overlap(&w, p.pos) < 1e-3, "{} overlaps a wall", p.pos);
            }
        }
        (w, events)
    }

    fn kills(events: &[TimedEvent]) -> usize {
        events.iter().filter(|e| matches!(e.event, GameEvent::Kill { .. })).count()
    }

    #[test]
    fn same_seed_and_inputs_give_the_same_game() {
        let (a, events_a) = brawl(Map::bundled_arena(), 42, 7, 24, 600, false);
        let (b, events_b) = brawl(Map::bundled_arena(), 42, 7, 24, 600, false);
        assert!(kills(&events_a) >= 5, "only {} kills", kills(&events_a));
        assert_eq!(a.tick(), b.tick());
        assert_eq!(a.players().cloned().collect::<Vec<_>>(), b.players().cloned().collect::<Vec<_>>());
        assert_eq!(a.bullets().copied().collect::<Vec<_>>(), b.bullets().copied().collect::<Vec<_>>());
        assert_eq!(events_a, events_b);
        assert_eq!(a.rng, b.rng);

        let (c, _) = brawl(Map::bundled_arena(), 43, 7, 24, 600, false);
        let positions = |w: &World| w.players().map(|p| p.pos).collect::<Vec<_>>();
        assert_ne!(positions(&a), positions(&c), "another seed plays another game");
    }

    /// A runner crosses the line of fire at full speed, one tick of bullet flight (30 units) from the shooter's
    /// muzzle; the shooter, whose view of the runner is `rewind` ticks old, fires at tick 60 straight along +x at the
    /// height where it sees the runner when the bullet gets there. Returns whether the runner was hit. Small
    /// circles (hit radius 8) so that the runner's 7.3 units a tick tell a rewound shot from a present one.
    fn shot_at_what_was_seen(rewind: f32, max_rewind_ticks: u32) -> bool {
        const FIRE_TICK: u32 = 60;
        let rules = Rules { player_radius: 6.0, bullet_radius: 2.0, max_rewind_ticks, ..Rules::for_tick_rate(30) };
        let setup = |shooter_y: f32| {
            let mut w = World::new(open_map(2000, 2000), rules.clone(), 1);
            let (shooter, runner) = (w.add_player("shooter"), w.add_player("runner"));
            place(&mut w, shooter, 500.0, shooter_y);
            place(&mut w, runner, 560.0, 300.0);
            w.set_input(runner, input(Vec2::Y, 0, false));
            (w, shooter, runner)
        };
        // A dry run gives the runner's path (it never depends on the shooter).
        let (mut dry, _, runner) = setup(1500.0);
        let mut path = vec![Vec2::ZERO];
        for _ in 0..FIRE_TICK + 10 {
            dry.step();
            path.push(dry.player(runner).expect("runs").pos);
        }
        // The bullet (muzzle x 509, 30 units a tick) crosses x 560 in its second tick of flight, FIRE_TICK + 2: the
        // shooter sees the runner there `rewind` ticks behind.
        let seen = (FIRE_TICK + 2) as f32 - rewind;
        let (before, alpha) = (seen.floor() as usize, seen - seen.floor());
        let aim_y = path[before].lerp(path[(before + 1).min(path.len() - 1)], alpha).y;
        let (mut w, shooter, runner) = setup(aim_y);
        while w.tick() + 1 < FIRE_TICK {
            w.step();
        }
        w.set_input(shooter, PlayerInput { rewind, ..input(Vec2::ZERO, 0, true) });
        w.step();
        w.set_input(shooter, input(Vec2::ZERO, 0, false));
        (0..10).any(|_| {
            w.step();
            w.drain_hits().any(|hit| hit.shooter == shooter && hit.victim == runner)
        })
    }

    #[test]
    fn a_rewound_shot_hits_where_the_shooter_saw_its_target() {
        // 0, 50 and 150 ms of view delay at 30 Hz, under the default 200 ms cap (6 ticks).
        for rewind in [0.0, 1.5, 4.5] {
            assert!(shot_at_what_was_seen(rewind, 6), "a shot seen {rewind} ticks late should hit");
        }
        // The same shots resolved in the present miss: the runner has moved on.
        for rewind in [1.5, 4.5] {
            assert!(!shot_at_what_was_seen(rewind, 0), "without lag compensation a {rewind}-tick-old view misses");
        }
        // Beyond the cap a shot falls back to the present, and misses what is long gone.
        assert!(!shot_at_what_was_seen(9.0, 6), "a view 300 ms old is past the 200 ms cap");
        assert!(shot_at_what_was_seen(6.0, 6), "the cap itself still rewinds");
    }

    #[test]
    fn a_rewound_shot_spares_a_player_who_was_not_yet_alive_then() {
        let rules = Rules { max_rewind_ticks: 6, ..Rules::for_tick_rate(30) };
        let mut w = World::new(open_map(2000, 2000), rules, 1);
        let shooter = w.add_player("shooter");
        place(&mut w, shooter, 500.0, 500.0);
        for _ in 0..10 {
            w.step();
        }
        // A newcomer right in front of the muzzle; the shooter's view predates its arrival.
        let late = w.add_player("late");
        place(&mut w, late, 560.0, 500.0);
        w.step();
        w.set_input(shooter, PlayerInput { rewind: 4.0, ..input(Vec2::ZERO, 0, true) });
        for _ in 0..3 {
            w.step();
        }
        assert_eq!(w.drain_hits().count(), 0, "rewound shots miss a player the shooter could not have seen");
        assert_eq!(w.player(late).expect("still here").hp, w.rules().max_hp);
        // Seen at a time the newcomer was there: it is hit.
        w.set_input(shooter, PlayerInput { rewind: 1.0, ..input(Vec2::ZERO, 0, true) });
        for _ in 0..8 {
            w.step();
        }
        assert!(w.drain_hits().any(|hit| hit.victim == late));
    }

    #[test]
    fn grid_hits_match_brute_force() {
        // A crowded small arena: many hits per tick, ties and kills in the same pass.
        let map = Map::generated(1600, 1200, 5);
        let (grid, events_grid) = brawl(map.clone(), 9, 3, 150, 300, false);
        let (brute, events_brute) = brawl(map, 9, 3, 150, 300, true);
        assert!(kills(&events_grid) >= 20, "only {} kills", kills(&events_grid));
        assert_eq!(events_grid, events_brute);
        assert_eq!(grid.players().cloned().collect::<Vec<_>>(), brute.players().cloned().collect::<Vec<_>>());
        assert_eq!(grid.bullets().copied().collect::<Vec<_>>(), brute.bullets().copied().collect::<Vec<_>>());
    }

    #[test]
    fn two_thousand_players_step() {
        let map = Map::generated(24_000, 16_000, 11);
        let mut w = World::new(map, Rules::for_tick_rate(30), 3);
        let mut script = Rng::new(1);
        let ids: Vec<PlayerId> = (0..2000).map(|i| w.add_player(&format!("p{i}"))).collect();
        for (i, &id) in ids.iter().enumerate() {
            let movement = Vec2::from_angle(script.unit_f32() * std::f32::consts::TAU);
            w.set_input(id, input(movement, (i * 977) as u16, true));
        }
        for _ in 0..40 {
            w.step();
        }
        assert_eq!(w.player_count(), 2000);
        assert!(w.bullet_count() > 5_000, "{} bullets", w.bullet_count());
        for p in w.players() {
            assert!(overlap(&w, p.pos) < 1e-3, "{} overlaps a wall", p.pos);
            assert!(on_grid(p.pos) && on_grid(p.vel));
        }
    }
}
