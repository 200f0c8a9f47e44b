//! The brain of a headless bot: from one received world state to one set of controls.
//!
//! A [`Brain`] is pure decision logic. It sees what a real client sees (the entities of a snapshot, the map and the
//! rules from `welcome`) through a [`View`], and answers with a [`Decision`] (movement, aim, trigger) that the bot
//! runner turns into an `input` message. It does no I/O, reads no clock (time is the snapshot's tick) and draws its
//! randomness from a small generator seeded in [`Brain::new`], so the same seed fed the same views decides the same.
//!
//! The behaviour, per call:
//! - **dead**: the neutral decision;
//! - **target**: the nearest alive enemy within [`VISION_RANGE`] whose segment from us crosses no wall (grown by the
//!   bullet radius), kept while it stays valid rather than re-chosen each tick;
//! - **fight**: aim at where the target will be when the bullet arrives, plus a few degrees of error that drifts
//!   smoothly; pull the trigger once per fire interval; close in when far, back off when near, strafe in between;
//! - **wander** without a target: walk to random waypoints, re-picked when reached, after a while, or when stuck;
//! - **dodge** a bullet about to hit us by stepping off its line (if the bot notices it: each bot has its own
//!   chance per bullet, since perfect reflexes make the bots nearly unhittable);
//! - **steer**: every movement is probed a short way ahead against walls and edges and, when blocked, rotated by
//!   ±45°, ±90°, ±135° until clear.
//!
//! A call costs O(entities + walls): one pass over the entities, and a bounded number of segment tests against every
//! wall (line of sight to at most [`CANDIDATES`] + 1 players, at most nine steering probes); a new waypoint adds
//! at most eight more. It allocates nothing.

use std::f32::consts::FRAC_PI_4;

use glam::Vec2;

use crate::protocol::{bullet_field, player_field, EntityKind, MapInfo, RulesInfo};
use crate::sim::{radians_to_aim, POS_SCALE};
use crate::snapshot::Entity;

/// How far a bot sees an enemy, in world units.
pub const VISION_RANGE: f32 = 900.0;
/// How far a bot keeps tracking the target it already has (hysteresis over [`VISION_RANGE`]).
const KEEP_RANGE: f32 = 1000.0;
/// A visible enemy closer than this fraction of the current target's distance steals the bot's attention.
const SWITCH_RATIO: f32 = 0.5;
/// How many of the nearest enemies get a line-of-sight test when a new target is chosen.
const CANDIDATES: usize = 4;
/// Beyond this distance a bot closes in on its target.
const FAR_RANGE: f32 = 450.0;
/// Within this distance a bot backs away from its target.
const NEAR_RANGE: f32 = 200.0;
/// The largest aim error, in radians (3°). The error drifts smoothly inside `-max..=max`.
pub const AIM_ERROR_MAX: f32 = 3.0 * std::f32::consts::PI / 180.0;
/// Seconds the aim error takes to drift from one random value to the next.
const AIM_DRIFT_SECONDS: f32 = 0.6;
/// Shortest and longest stretch, in seconds, before a bot reverses its strafe.
const STRAFE_SECONDS: (f32, f32) = (1.0, 2.0);
/// How far ahead of its centre, beyond its radius, a bot probes before moving.
const PROBE_AHEAD: f32 = 48.0;
/// A waypoint this close counts as reached.
const WAYPOINT_REACHED: f32 = 40.0;
/// Shortest and longest time, in seconds, a bot walks towards one waypoint before picking another.
const WAYPOINT_SECONDS: (f32, f32) = (3.0, 6.0);
/// Random points drawn when picking a waypoint (the first reachable in a straight line wins).
const WAYPOINT_TRIES: usize = 8;
/// A waypoint stays this far from the edges and (beyond the player radius) from the walls.
const WAYPOINT_MARGIN: f32 = 24.0;
/// A bot whose position stays within this distance for [`STUCK_SECONDS`] is stuck.
const STUCK_DISTANCE: f32 = 16.0;
/// See [`STUCK_DISTANCE`].
const STUCK_SECONDS: f32 = 1.0;
/// A bullet that would pass within `player_radius + bullet_radius + DODGE_MARGIN` of a bot in the next
/// [`DODGE_SECONDS`] makes it step aside.
const DODGE_MARGIN: f32 = 6.0;
/// See [`DODGE_MARGIN`].
const DODGE_SECONDS: f32 = 0.25;
/// The range of a bot's chance to notice a given bullet (drawn once per brain).
const DODGE_CHANCE: (f32, f32) = (0.2, 0.6);
/// The steering rotations tried after straight ahead, in units of 45°, for the preferred side (+1).
const TURNS: [f32; 7] = [0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0];

/// What a bot knows when it decides: one received world state and the constants from `welcome`.
pub struct View<'a> {
    /// Tick of the state.
    pub tick: u32,
    /// The bot's own player (kind Player).
    pub me: &'a Entity,
    /// Every entity of the state, sorted by id (the bot itself, other players, bullets).
    pub entities: &'a [Entity],
    /// The arena.
    pub map: &'a MapInfo,
    /// The game's constants.
    pub rules: &'a RulesInfo,
    /// Ticks per second.
    pub tick_rate: u16,
}

/// A bot's controls for the next input: movement axes in `-127..=127`, aim in wire steps, trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Decision {
    /// Rightwards movement, `-127..=127`.
    pub move_x: i8,
    /// Downwards movement, `-127..=127`.
    pub move_y: i8,
    /// Aim, 65536 steps per turn from +x towards +y.
    pub aim: u16,
    /// Whether to hold the trigger.
    pub fire: bool,
}

/// One bot's decision state: its target, waypoint, strafe, aim drift and random generator. See the module docs.
#[derive(Clone, Debug)]
pub struct Brain {
    rng: SplitMix64,
    /// Whether the bot was alive at the last call (a respawn resets the plans).
    alive: bool,
    /// The wire id of the player being fought.
    target: Option<u32>,
    /// The last tick this brain pulled the trigger.
    last_fire_tick: Option<u32>,
    /// Where the bot wanders to, and since which tick, for how many ticks at most.
    waypoint: Option<Vec2>,
    waypoint_since: u32,
    waypoint_ticks: u32,
    /// Stuck detection: a position and the tick the bot was last seen leaving its neighbourhood.
    anchor: Vec2,
    anchor_tick: u32,
    /// +1 or -1: which way the bot strafes around its target, since which tick, for how many ticks.
    strafe_sign: f32,
    strafe_since: u32,
    strafe_ticks: u32,
    /// +1 or -1: the side tried first when steering around a wall.
    turn_side: f32,
    /// The chance this bot notices a given bullet, and the salt of the per-bullet coin (so the coin gives the same
    /// answer for one bullet on every tick).
    dodge_chance: f32,
    dodge_salt: u64,
    /// Aim error drift: from one value to the next, starting at a tick.
    drift_from: f32,
    drift_to: f32,
    drift_since: u32,
}

impl Brain {
    /// A fresh brain whose every random choice is drawn from `seed`.
    pub fn new(seed: u64) -> Brain {
        let mut rng = SplitMix64(seed ^ 0xB07_B2A1_5EED);
        let strafe_sign = rng.sign();
        let turn_side = rng.sign();
        let drift_to = rng.signed_unit() * AIM_ERROR_MAX;
        let dodge_chance = rng.range(DODGE_CHANCE.0, DODGE_CHANCE.1);
        let dodge_salt = rng.next_u64();
        Brain {
            rng,
            alive: false,
            target: None,
            last_fire_tick: None,
            waypoint: None,
            waypoint_since: 0,
            waypoint_ticks: 0,
            anchor: Vec2::ZERO,
            anchor_tick: 0,
            strafe_sign,
            strafe_since: 0,
            strafe_ticks: 0,
            turn_side,
            dodge_chance,
            dodge_salt,
            drift_from: drift_to,
            drift_to,
            drift_since: 0,
        }
    }

    /// The wire id of the player this bot is fighting, if any.
    pub fn target(&self) -> Option<u32> {
        self.target
    }

    /// Decides the controls for one received state. Call it once per snapshot, with increasing ticks.
    pub fn decide(&mut self, view: &View) -> Decision {
        if view.me.fields[player_field::HP] <= 0 {
            self.alive = false;
            self.target = None;
            return Decision::default();
        }
        let tick = view.tick;
        let rate = f32::from(view.tick_rate.max(1));
        let arena = Arena::new(view.map, view.rules);
        let pos = position(view.me);
        if !self.alive {
            // A new life (or the first call): forget the plans of the last one.
            self.alive = true;
            self.waypoint = None;
            self.anchor = pos;
            self.anchor_tick = tick;
            self.strafe_since = tick;
            self.strafe_ticks = self.random_ticks(STRAFE_SECONDS, rate);
            self.drift_since = tick;
        }
        let stuck = self.update_stuck(pos, tick, rate);
        if stuck {
            self.turn_side = -self.turn_side;
        }
        let aim_error = self.aim_error(tick, rate);
        let threat = self.dodge_direction(view, pos, rate);

        self.target = self.choose_target(view, &arena, pos);
        let target = self.target.and_then(|id| find(view.entities, id));
        let (want, aim_at) = match target {
            Some(enemy) => {
                let (want, angle) = self.fight(view, &arena, pos, enemy, stuck, rate);
                (want, Some(angle))
            }
            None => (self.wander(view, &arena, pos, stuck, rate), None),
        };
        let heading = self.steer(&arena, pos, threat.unwrap_or(want));
        // Without a target the bot looks where it goes (and keeps its aim when it stands still).
        let aim_angle = aim_at.or_else(|| heading.try_normalize().map(|h| h.y.atan2(h.x)));
        // The snapshot's aim has 256 steps per turn, the input's 65536.
        let kept = (view.me.fields[player_field::AIM] << 8) as u16;
        let aim = aim_angle.map_or(kept, |a| radians_to_aim(a + aim_error));
        let fire = aim_at.is_some()
            && self.last_fire_tick.is_none_or(|last| tick.wrapping_sub(last) >= view.rules.fire_interval_ticks.max(1));
        if fire {
            self.last_fire_tick = Some(tick);
        }
        Decision { move_x: axis(heading.x), move_y: axis(heading.y), aim, fire }
    }

    /// Keeps the current target while it is alive, in range and in sight (unless a visible enemy is much closer);
    /// otherwise the nearest enemy in sight among the [`CANDIDATES`] nearest within [`VISION_RANGE`].
    fn choose_target(&self, view: &View, arena: &Arena, pos: Vec2) -> Option<u32> {
        let mut current: Option<(u32, f32)> = None;
        if let Some(enemy) = self.target.and_then(|id| find(view.entities, id)) {
            let distance = position(enemy).distance(pos);
            if is_alive_player(enemy) && distance <= KEEP_RANGE && arena.line_of_sight(pos, position(enemy)) {
                current = Some((enemy.id, distance));
            }
        }
        let range = current.map_or(VISION_RANGE, |(_, distance)| distance * SWITCH_RATIO);
        // The few nearest enemies within range, nearest first, in a fixed array: no allocation.
        let mut nearest = [(f32::INFINITY, 0usize); CANDIDATES];
        for (index, entity) in view.entities.iter().enumerate() {
            if entity.id == view.me.id || !is_alive_player(entity) {
                continue;
            }
            let distance = position(entity).distance(pos);
            if distance > range || distance >= nearest[CANDIDATES - 1].0 {
                continue;
            }
            let mut slot = CANDIDATES - 1;
            while slot > 0 && nearest[slot - 1].0 > distance {
                nearest[slot] = nearest[slot - 1];
                slot -= 1;
            }
            nearest[slot] = (distance, index);
        }
        nearest
            .iter()
            .take_while(|(distance, _)| distance.is_finite())
            .map(|&(_, index)| &view.entities[index])
            .find(|enemy| arena.line_of_sight(pos, position(enemy)))
            .map(|enemy| enemy.id)
            .or(current.map(|(id, _)| id))
    }

    /// Movement wish and aim angle against `enemy`.
    fn fight(&mut self, view: &View, arena: &Arena, pos: Vec2, enemy: &Entity, stuck: bool, rate: f32) -> (Vec2, f32) {
        let tick = view.tick;
        if stuck || tick.wrapping_sub(self.strafe_since) >= self.strafe_ticks {
            self.strafe_sign = -self.strafe_sign;
            self.strafe_since = tick;
            self.strafe_ticks = self.random_ticks(STRAFE_SECONDS, rate);
        }
        let enemy_pos = position(enemy);
        let offset = enemy_pos - pos;
        let distance = offset.length();
        let toward = offset.try_normalize().unwrap_or(Vec2::X);
        let side = Vec2::new(-toward.y, toward.x);
        let wish = |sign: f32| {
            let strafe = side * sign;
            let wish = if distance > FAR_RANGE {
                toward + strafe * 0.4
            } else if distance < NEAR_RANGE {
                -toward + strafe * 0.5
            } else {
                strafe
            };
            wish.normalize_or_zero()
        };
        let mut want = wish(self.strafe_sign);
        // A strafe into a wall is better reversed than steered: it keeps the bot circling its target.
        if !arena.probe(pos, want) && arena.probe(pos, wish(-self.strafe_sign)) {
            self.strafe_sign = -self.strafe_sign;
            self.strafe_since = tick;
            want = wish(self.strafe_sign);
        }

        let dt = 1.0 / rate;
        let rules = view.rules;
        let muzzle = rules.player_radius + rules.bullet_radius + 1.0;
        // The input applies at the next tick: the shot leaves from where we will be then, towards where the enemy
        // will be when the bullet gets there (two refinements of the flight time are plenty).
        let origin = pos + velocity(view.me) * dt;
        let enemy_vel = velocity(enemy);
        let mut aim_point = enemy_pos + enemy_vel * dt;
        if rules.bullet_speed > 0.0 {
            for _ in 0..2 {
                let flight = ((aim_point - origin).length() - muzzle).max(0.0) / rules.bullet_speed;
                aim_point = enemy_pos + enemy_vel * (dt + flight);
            }
        }
        let aim = aim_point - origin;
        (want, aim.y.atan2(aim.x))
    }

    /// Movement wish towards the waypoint, picking a new one when needed.
    fn wander(&mut self, view: &View, arena: &Arena, pos: Vec2, stuck: bool, rate: f32) -> Vec2 {
        let tick = view.tick;
        let expired = tick.wrapping_sub(self.waypoint_since) >= self.waypoint_ticks;
        let waypoint = match self.waypoint {
            Some(point) if !stuck && !expired && point.distance(pos) > WAYPOINT_REACHED => point,
            _ => {
                let point = self.pick_waypoint(arena, pos);
                self.waypoint = Some(point);
                self.waypoint_since = tick;
                self.waypoint_ticks = self.random_ticks(WAYPOINT_SECONDS, rate);
                point
            }
        };
        (waypoint - pos).try_normalize().unwrap_or(Vec2::X)
    }

    /// A random point inside the arena, clear of the walls, preferably reachable in a straight line and not too
    /// close. Falls back to the first free point drawn, then to the arena's centre.
    fn pick_waypoint(&mut self, arena: &Arena, pos: Vec2) -> Vec2 {
        let margin = arena.player_radius + WAYPOINT_MARGIN;
        let (lo, hi) = (Vec2::splat(margin), arena.size - Vec2::splat(margin));
        let mut fallback = None;
        for _ in 0..WAYPOINT_TRIES {
            let point = Vec2::new(self.rng.range(lo.x, hi.x), self.rng.range(lo.y, hi.y));
            if !arena.is_free(point, margin) {
                continue;
            }
            if point.distance(pos) > 4.0 * WAYPOINT_REACHED && arena.path_clear(pos, point) {
                return point;
            }
            fallback.get_or_insert(point);
        }
        fallback.unwrap_or(arena.size / 2.0)
    }

    /// The first direction, rotating `want` by 0°, ±45°, ±90°, ±135° (preferred side first), whose probe is clear;
    /// straight back if all are blocked. Zero stays zero.
    fn steer(&self, arena: &Arena, pos: Vec2, want: Vec2) -> Vec2 {
        let Some(want) = want.try_normalize() else { return Vec2::ZERO };
        TURNS
            .iter()
            .map(|turns| Vec2::from_angle(turns * self.turn_side * FRAC_PI_4).rotate(want))
            .find(|&dir| arena.probe(pos, dir))
            .unwrap_or(-want)
    }

    /// Whether the bot has stayed within [`STUCK_DISTANCE`] of one spot for [`STUCK_SECONDS`] (then it starts over).
    fn update_stuck(&mut self, pos: Vec2, tick: u32, rate: f32) -> bool {
        if pos.distance(self.anchor) > STUCK_DISTANCE {
            self.anchor = pos;
            self.anchor_tick = tick;
            return false;
        }
        if tick.wrapping_sub(self.anchor_tick) >= seconds_to_ticks(STUCK_SECONDS, rate) {
            self.anchor_tick = tick;
            return true;
        }
        false
    }

    /// The aim error at `tick`: a smoothstep between random values in `-AIM_ERROR_MAX..=AIM_ERROR_MAX`, a new one
    /// every [`AIM_DRIFT_SECONDS`], so the aim wanders instead of jittering.
    fn aim_error(&mut self, tick: u32, rate: f32) -> f32 {
        let period = seconds_to_ticks(AIM_DRIFT_SECONDS, rate);
        let mut elapsed = tick.wrapping_sub(self.drift_since);
        if elapsed >= 2 * period {
            // A long gap (or a clock going backwards): restart the drift from where it was heading.
            self.drift_since = tick;
            self.drift_from = self.drift_to;
            self.drift_to = self.rng.signed_unit() * AIM_ERROR_MAX;
            elapsed = 0;
        } else if elapsed >= period {
            self.drift_since = self.drift_since.wrapping_add(period);
            self.drift_from = self.drift_to;
            self.drift_to = self.rng.signed_unit() * AIM_ERROR_MAX;
            elapsed -= period;
        }
        let t = elapsed as f32 / period as f32;
        let smooth = t * t * (3.0 - 2.0 * t);
        self.drift_from + (self.drift_to - self.drift_from) * smooth
    }

    /// The direction to step out of the way of the most imminent bullet that would hit us, among those this bot
    /// notices, if any.
    fn dodge_direction(&self, view: &View, pos: Vec2, rate: f32) -> Option<Vec2> {
        let rules = view.rules;
        let reach = rules.player_radius + rules.bullet_radius + DODGE_MARGIN;
        let mut best: Option<(f32, Vec2)> = None;
        for bullet in view.entities.iter().filter(|e| e.kind == EntityKind::Bullet) {
            if bullet.fields[bullet_field::OWNER] == view.me.id as i32 {
                continue;
            }
            let origin = Vec2::new(bullet.fields[bullet_field::X] as f32, bullet.fields[bullet_field::Y] as f32);
            let vel = Vec2::new(bullet.fields[bullet_field::VX] as f32, bullet.fields[bullet_field::VY] as f32);
            let (origin, vel) = (origin / POS_SCALE, vel / POS_SCALE);
            let age = view.tick.wrapping_sub(bullet.fields[bullet_field::SPAWN_TICK] as u32) as f32 / rate;
            let relative = pos - (origin + vel * age);
            let speed2 = vel.length_squared();
            if speed2 < 1.0 {
                continue;
            }
            // Time of closest approach, and how far off the bullet's line we are then.
            let t = relative.dot(vel) / speed2;
            if t <= 0.0 || t > DODGE_SECONDS {
                continue;
            }
            let miss = relative - vel * t;
            if miss.length_squared() > reach * reach
                || best.is_some_and(|(best_t, _)| best_t <= t)
                || !self.notices(bullet)
            {
                continue;
            }
            let away = miss.try_normalize().unwrap_or_else(|| vel.perp().normalize());
            best = Some((t, away));
        }
        best.map(|(_, away)| away)
    }

    /// The per-bullet coin of `dodge_chance`: the same answer for one bullet every time it is asked.
    fn notices(&self, bullet: &Entity) -> bool {
        let key = u64::from(bullet.id) | u64::from(bullet.fields[bullet_field::SPAWN_TICK] as u32) << 32;
        SplitMix64(self.dodge_salt ^ key).unit() < self.dodge_chance
    }

    /// A random duration in ticks between `seconds.0` and `seconds.1`.
    fn random_ticks(&mut self, seconds: (f32, f32), rate: f32) -> u32 {
        seconds_to_ticks(self.rng.range(seconds.0, seconds.1), rate)
    }
}

/// The map's geometry as the bot needs it: walls as float rectangles, the world size and the radii.
struct Arena<'a> {
    walls: &'a [[i32; 4]],
    size: Vec2,
    player_radius: f32,
    bullet_radius: f32,
}

impl<'a> Arena<'a> {
    fn new(map: &'a MapInfo, rules: &RulesInfo) -> Arena<'a> {
        Arena {
            walls: &map.walls,
            size: Vec2::new(map.width as f32, map.height as f32),
            player_radius: rules.player_radius,
            bullet_radius: rules.bullet_radius,
        }
    }

    /// Whether the segment `a..b` enters no wall grown by `grow` (touching a wall's border does not count).
    fn segment_clear(&self, a: Vec2, b: Vec2, grow: f32) -> bool {
        let delta = b - a;
        self.walls.iter().all(|&[x, y, w, h]| {
            let min = Vec2::new(x as f32, y as f32) - Vec2::splat(grow);
            let max = Vec2::new((x + w) as f32, (y + h) as f32) + Vec2::splat(grow);
            !segment_enters_rect(a, delta, min, max)
        })
    }

    /// Whether a bullet flying from `a` to `b` would meet no wall.
    fn line_of_sight(&self, a: Vec2, b: Vec2) -> bool {
        self.segment_clear(a, b, self.bullet_radius)
    }

    /// Whether a player's circle can slide in a straight line from `a` to `b` without entering a wall.
    fn path_clear(&self, a: Vec2, b: Vec2) -> bool {
        self.segment_clear(a, b, self.player_radius)
    }

    /// Whether moving from `pos` along the unit vector `dir` is clear for `player_radius + PROBE_AHEAD`: no wall
    /// on the way (for the player's circle) and the end still inside the edges.
    fn probe(&self, pos: Vec2, dir: Vec2) -> bool {
        let r = self.player_radius;
        let end = pos + dir * (r + PROBE_AHEAD);
        // The half-unit slack lets a bot resting against an edge slide along it.
        let inside = |v: f32, size: f32| v >= r - 0.5 && v <= size - r + 0.5;
        inside(end.x, self.size.x) && inside(end.y, self.size.y) && self.path_clear(pos, end)
    }

    /// Whether a circle of radius `clearance` at `point` touches no wall.
    fn is_free(&self, point: Vec2, clearance: f32) -> bool {
        self.walls.iter().all(|&[x, y, w, h]| {
            let min = Vec2::new(x as f32, y as f32);
            let max = Vec2::new((x + w) as f32, (y + h) as f32);
            point.distance_squared(point.clamp(min, max)) > clearance * clearance
        })
    }
}

/// Whether the segment `a..a + delta` passes through the open interior of the rectangle `min..max` (slab test):
/// running along a border or leaving from it does not count, so a bot resting against a wall may slide along it.
fn segment_enters_rect(a: Vec2, delta: Vec2, min: Vec2, max: Vec2) -> bool {
    let (mut t0, mut t1) = (0.0f32, 1.0f32);
    for (p, d, lo, hi) in [(a.x, delta.x, min.x, max.x), (a.y, delta.y, min.y, max.y)] {
        if d.abs() < 1e-9 {
            if p <= lo || p >= hi {
                return false;
            }
        } else {
            let (ta, tb) = ((lo - p) / d, (hi - p) / d);
            t0 = t0.max(ta.min(tb));
            t1 = t1.min(ta.max(tb));
            if t0 >= t1 {
                return false;
            }
        }
    }
    true
}

/// The entity with wire id `id` in a list sorted by id.
fn find(entities: &[Entity], id: u32) -> Option<&Entity> {
    entities.binary_search_by_key(&id, |e| e.id).ok().map(|i| &entities[i])
}

fn is_alive_player(entity: &Entity) -> bool {
    entity.kind == EntityKind::Player && entity.fields[player_field::HP] > 0
}

/// A player's centre in world units.
fn position(player: &Entity) -> Vec2 {
    Vec2::new(player.fields[player_field::X] as f32, player.fields[player_field::Y] as f32) / POS_SCALE
}

/// A player's velocity in world units per second.
fn velocity(player: &Entity) -> Vec2 {
    Vec2::new(player.fields[player_field::VX] as f32, player.fields[player_field::VY] as f32) / POS_SCALE
}

/// A movement component in `-1..=1` as a wire axis.
fn axis(v: f32) -> i8 {
    (v * 127.0).round().clamp(-127.0, 127.0) as i8
}

/// At least one tick.
fn seconds_to_ticks(seconds: f32, rate: f32) -> u32 {
    (seconds * rate).round().max(1.0) as u32
}

/// SplitMix64: a tiny, well-mixed generator, so a brain's choices follow from its seed alone. The swarm draws its
/// other per-bot randomness (connection drops, backoff jitter) from it too, so a seed repeats a whole run's plan.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose output follows from `seed` alone.
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0.0..1.0`, 24 random bits.
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// In `0.0..1.0`, 53 random bits (for waiting times, where the rare long ones need the precision).
    pub(crate) fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// In `-1.0..1.0`.
    fn signed_unit(&mut self) -> f32 {
        self.unit() * 2.0 - 1.0
    }

    /// In `lo..hi`.
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// +1 or -1.
    fn sign(&mut self) -> f32 {
        if self.next_u64() & 1 == 0 {
            1.0
        } else {
            -1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::f32::consts::{PI, TAU};

    use super::*;
    use crate::sim::{aim_to_radians, GameEvent, Map, PlayerInput, Rules, World};
    use crate::snapshot::WorldSnapshot;

    const RATE: u16 = 30;

    fn rules() -> RulesInfo {
        RulesInfo::from(&Rules::for_tick_rate(u32::from(RATE)))
    }

    fn open_map(walls: Vec<[i32; 4]>) -> MapInfo {
        MapInfo { name: "test".into(), width: 2000, height: 2000, walls, spawns: vec![[1000, 1000]] }
    }

    fn player(id: u32, x: f32, y: f32, hp: i32) -> Entity {
        let mut fields = [0; crate::protocol::MAX_FIELDS];
        fields[player_field::X] = (x * POS_SCALE) as i32;
        fields[player_field::Y] = (y * POS_SCALE) as i32;
        fields[player_field::HP] = hp;
        Entity { id, kind: EntityKind::Player, fields }
    }

    fn view<'a>(tick: u32, me: &'a Entity, entities: &'a [Entity], map: &'a MapInfo, rules: &'a RulesInfo) -> View<'a> {
        View { tick, me, entities, map, rules, tick_rate: RATE }
    }

    fn angle_difference(a: f32, b: f32) -> f32 {
        (a - b + PI).rem_euclid(TAU) - PI
    }

    #[test]
    fn aims_at_and_fires_on_a_visible_enemy() {
        let (map, rules) = (open_map(Vec::new()), rules());
        let entities = [player(1, 500.0, 500.0, 100), player(2, 800.0, 700.0, 100)];
        let want = (700.0f32 - 500.0).atan2(800.0 - 500.0);
        let mut brain = Brain::new(7);
        let mut shots = 0;
        for tick in 1..=60 {
            let decision = brain.decide(&view(tick, &entities[0], &entities, &map, &rules));
            assert_eq!(brain.target(), Some(2));
            let error = angle_difference(aim_to_radians(decision.aim), want).abs();
            assert!(error <= AIM_ERROR_MAX + 1e-3, "tick {tick}: aim off by {error} rad");
            shots += u32::from(decision.fire);
        }
        // Once per fire interval (5 ticks at 30 Hz), from the first call on.
        assert_eq!(shots, 60 / rules.fire_interval_ticks);
    }

    #[test]
    fn aim_error_drifts_smoothly() {
        let mut brain = Brain::new(3);
        let rate = f32::from(RATE);
        let mut last = brain.aim_error(1, rate);
        let mut seen = (f32::INFINITY, f32::NEG_INFINITY);
        for tick in 2..600 {
            let error = brain.aim_error(tick, rate);
            assert!(error.abs() <= AIM_ERROR_MAX);
            // A smoothstep over 18 ticks moves at most 1.5 * span / 18 per tick.
            assert!((error - last).abs() <= 2.0 * AIM_ERROR_MAX * 1.5 / 18.0 + 1e-6, "jump at tick {tick}");
            seen = (seen.0.min(error), seen.1.max(error));
            last = error;
        }
        assert!(seen.1 - seen.0 > AIM_ERROR_MAX, "the error should actually wander: {seen:?}");
    }

    #[test]
    fn leads_a_moving_enemy() {
        let (map, rules) = (open_map(Vec::new()), rules());
        let mut enemy = player(2, 900.0, 500.0, 100);
        enemy.fields[player_field::VY] = (220.0 * POS_SCALE) as i32;
        let entities = [player(1, 500.0, 500.0, 100), enemy];
        let decision = Brain::new(1).decide(&view(1, &entities[0], &entities, &map, &rules));
        // 400 units away: about 0.45 s of flight, so about 100 units of lead downwards (angle near 14°).
        let angle = aim_to_radians(decision.aim);
        let angle = angle_difference(angle, 0.0);
        assert!((0.20..0.30).contains(&angle), "aim angle {angle}");
    }

    #[test]
    fn a_wall_blocks_targeting_and_fire() {
        let (map, rules) = (open_map(vec![[640, 300, 40, 400]]), rules());
        let entities = [player(1, 500.0, 500.0, 100), player(2, 800.0, 500.0, 100)];
        let mut brain = Brain::new(7);
        for tick in 1..=60 {
            let decision = brain.decide(&view(tick, &entities[0], &entities, &map, &rules));
            assert_eq!(brain.target(), None);
            assert!(!decision.fire);
        }
        // A wall just beside the line, closer than a bullet's radius, blocks too; one farther off does not.
        for (wall_top, visible) in [(502, false), (505, true)] {
            let map = open_map(vec![[640, wall_top, 40, 400]]);
            let decision = Brain::new(7).decide(&view(1, &entities[0], &entities, &map, &rules));
            assert_eq!(decision.fire, visible, "wall top at {wall_top}");
        }
    }

    #[test]
    fn keeps_its_target_and_ignores_the_dead() {
        let (map, rules) = (open_map(Vec::new()), rules());
        let mut entities = vec![player(1, 500.0, 500.0, 100), player(2, 800.0, 500.0, 100), player(3, 300.0, 500.0, 0)];
        let mut brain = Brain::new(7);
        brain.decide(&view(1, &entities[0], &entities, &map, &rules));
        assert_eq!(brain.target(), Some(2), "the dead player 3 is nearer but not a target");
        // Player 3 comes back a little nearer than 2: no switch. Much nearer: switch.
        entities[2] = player(3, 260.0, 500.0, 100);
        brain.decide(&view(2, &entities[0], &entities, &map, &rules));
        assert_eq!(brain.target(), Some(2));
        entities[2] = player(3, 400.0, 500.0, 100);
        brain.decide(&view(3, &entities[0], &entities, &map, &rules));
        assert_eq!(brain.target(), Some(3));
        // Out of range: forgotten.
        entities[2] = player(3, 1900.0, 1900.0, 100);
        entities[1] = player(2, 1900.0, 100.0, 100);
        brain.decide(&view(4, &entities[0], &entities, &map, &rules));
        assert_eq!(brain.target(), None);
    }

    #[test]
    fn steers_around_a_wall_ahead() {
        let (map, rules) = (open_map(vec![[540, 300, 40, 400]]), rules());
        let arena = Arena::new(&map, &rules);
        let pos = Vec2::new(500.0, 500.0);
        assert!(!arena.probe(pos, Vec2::X), "the wall is right ahead");
        for seed in 0..8 {
            let mut brain = Brain::new(seed);
            brain.decide(&view(1, &player(1, 500.0, 500.0, 100), &[], &map, &rules));
            // Walk to a waypoint behind the wall.
            brain.waypoint = Some(Vec2::new(900.0, 500.0));
            let me = player(1, pos.x, pos.y, 100);
            let decision = brain.decide(&view(2, &me, std::slice::from_ref(&me), &map, &rules));
            let dir = Vec2::new(f32::from(decision.move_x), f32::from(decision.move_y)).normalize();
            assert!(arena.probe(pos, dir), "seed {seed}: {dir} is blocked");
            assert!(dir.x.abs() < 0.1, "seed {seed}: slides along the wall, got {dir}");
        }
        // Cornered against two edges: the way out is clear.
        let corner = Vec2::new(16.0, 16.0);
        let dir = Brain::new(1).steer(&arena, corner, Vec2::new(-1.0, -1.0));
        assert!(arena.probe(corner, dir), "{dir}");
    }

    #[test]
    fn probes_against_edges_and_slides_along_them() {
        let (map, rules) = (open_map(Vec::new()), rules());
        let arena = Arena::new(&map, &rules);
        let at_left_edge = Vec2::new(16.0, 500.0);
        assert!(!arena.probe(at_left_edge, -Vec2::X));
        assert!(arena.probe(at_left_edge, Vec2::Y));
        assert!(arena.probe(at_left_edge, Vec2::X));
        assert!(!arena.probe(Vec2::new(1950.0, 500.0), Vec2::X));
    }

    #[test]
    fn a_dead_bot_stays_neutral() {
        let (map, rules) = (open_map(Vec::new()), rules());
        let entities = [player(1, 500.0, 500.0, 0), player(2, 800.0, 500.0, 100)];
        let mut brain = Brain::new(7);
        for tick in 1..10 {
            assert_eq!(brain.decide(&view(tick, &entities[0], &entities, &map, &rules)), Decision::default());
        }
    }

    #[test]
    fn steps_out_of_a_bullets_way() {
        let (map, rules) = (open_map(Vec::new()), rules());
        let mut bullet = Entity { id: 65536, kind: EntityKind::Bullet, fields: [0; 9] };
        // Fired at tick 10 from 200 units to the left, straight at us, along +x.
        bullet.fields[bullet_field::X] = (300.0 * POS_SCALE) as i32;
        bullet.fields[bullet_field::Y] = (502.0 * POS_SCALE) as i32;
        bullet.fields[bullet_field::VX] = (900.0 * POS_SCALE) as i32;
        bullet.fields[bullet_field::OWNER] = 9;
        bullet.fields[bullet_field::SPAWN_TICK] = 10;
        let me = player(1, 500.0, 500.0, 100);
        let entities = [me, bullet];
        let mut brain = Brain::new(1);
        brain.dodge_chance = 1.0;
        let decision = brain.decide(&view(11, &me, &entities, &map, &rules));
        // The bullet passes just below the centre: step up.
        assert!(decision.move_y < -100 && decision.move_x.abs() < 30, "{decision:?}");
        // Our own bullets are no threat.
        let mut own = entities;
        own[1].fields[bullet_field::OWNER] = 1;
        assert_eq!(brain.dodge_direction(&view(11, &me, &own, &map, &rules), Vec2::new(500.0, 500.0), 30.0), None);
    }

    #[test]
    fn wanders_looking_ahead_and_gives_up_when_stuck() {
        let (map, rules) = (open_map(Vec::new()), rules());
        let me = player(1, 1000.0, 1000.0, 100);
        let mut brain = Brain::new(11);
        let first = brain.decide(&view(1, &me, std::slice::from_ref(&me), &map, &rules));
        assert!(!first.fire);
        let heading = f32::from(first.move_y).atan2(f32::from(first.move_x));
        assert!(angle_difference(aim_to_radians(first.aim), heading).abs() <= AIM_ERROR_MAX + 0.01);
        let waypoint = brain.waypoint.expect("a waypoint");
        // Held in place (as if pinned): a new waypoint after about a second, not before.
        for tick in 2..=30 {
            brain.decide(&view(tick, &me, std::slice::from_ref(&me), &map, &rules));
            assert_eq!(brain.waypoint, Some(waypoint), "tick {tick}");
        }
        brain.decide(&view(31, &me, std::slice::from_ref(&me), &map, &rules));
        assert_ne!(brain.waypoint, Some(waypoint));
    }

    #[test]
    fn same_seed_same_decisions_other_seed_other_wander() {
        let (map, rules) = (open_map(vec![[900, 900, 200, 200]]), rules());
        let run = |seed: u64| -> Vec<Decision> {
            let mut brain = Brain::new(seed);
            let mut me = player(1, 300.0, 300.0, 100);
            (1..=300)
                .map(|tick| {
                    let entities = [me, player(2, 1900.0, 1900.0, 100)];
                    let decision = brain.decide(&view(tick, &me, &entities, &map, &rules));
                    // Crude kinematics so the bot actually walks (and reaches waypoints).
                    me.fields[player_field::X] += i32::from(decision.move_x) / 2;
                    me.fields[player_field::Y] += i32::from(decision.move_y) / 2;
                    decision
                })
                .collect()
        };
        assert_eq!(run(5), run(5));
        let differing = run(5).iter().zip(run(6)).filter(|(a, b)| **a != *b).count();
        assert!(differing > 200, "only {differing} of 300 decisions differ");
    }

    /// Bots playing the real simulation on the bundled arena.
    #[test]
    fn bots_play_the_real_game() {
        const BOTS: usize = 20;
        const TICKS: u32 = 600;
        const CELL: f32 = 200.0;
        let sim_rules = Rules::for_tick_rate(u32::from(RATE));
        let mut world = World::new(Map::bundled_arena(), sim_rules.clone(), 42);
        let (map, rules) = (MapInfo::from(world.map()), RulesInfo::from(&sim_rules));
        let mut bots: Vec<_> = (0..BOTS)
            .map(|i| (world.add_player(&format!("bot{i}")), Brain::new(1000 + i as u64), HashSet::new()))
            .collect();
        let mut kills = 0;
        let mut shots = 0;
        let mut all_cells = HashSet::new();
        for _ in 0..TICKS {
            let snapshot = WorldSnapshot::capture(&world);
            let entities: Vec<Entity> = snapshot.entities.iter().map(Entity::from).collect();
            for (id, brain, cells) in &mut bots {
                let me = &Entity::from(snapshot.entity(id.wire_id()).expect("every bot is in the snapshot"));
                let view =
                    View { tick: snapshot.tick, me, entities: &entities, map: &map, rules: &rules, tick_rate: RATE };
                let d = brain.decide(&view);
                shots += u32::from(d.fire);
                let movement = Vec2::new(f32::from(d.move_x), f32::from(d.move_y)) / 127.0;
                world.set_input(*id, PlayerInput { movement, aim: d.aim, fire: d.fire, rewind: 0.0 });
                if me.fields[player_field::HP] > 0 {
                    let cell = ((position(me) / CELL).floor()).as_ivec2();
                    cells.insert((cell.x, cell.y));
                    all_cells.insert((cell.x, cell.y));
                }
            }
            world.step();
            kills += world.drain_events().filter(|e| matches!(e.event, GameEvent::Kill { .. })).count();
        }
        let per_bot: Vec<usize> = bots.iter().map(|(_, _, cells)| cells.len()).collect();
        println!("{kills} kills, {shots} shots, {} cells visited, per bot {per_bot:?}", all_cells.len());
        assert!(kills >= 20, "only {kills} kills in {TICKS} ticks");
        // The arena is 12 x 8 cells of 200 units; most of it gets visited, and every bot moves around.
        assert!(all_cells.len() >= 60, "only {} cells visited", all_cells.len());
        assert!(per_bot.iter().all(|&n| n >= 4), "a bot stayed in place: {per_bot:?}");
    }
}
