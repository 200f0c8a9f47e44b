//! The game simulation: a pure, deterministic world of players, bullets and walls.
//!
//! Nothing in here touches a socket, a clock or a global random source. Time moves only when [`World::step`] is
//! called (one fixed tick of [`Rules::dt`] seconds), randomness comes from a generator seeded in [`World::new`], and
//! the only I/O is [`Map::load`] reading a map file. Two worlds built from the same map, rules and seed and fed the
//! same calls therefore end in bit-identical states, which is what the tests and the benchmarks rely on.
//!
//! State is kept on the wire's grid: after every tick positions and velocities are multiples of `1 / POS_SCALE`
//! (see [`snap`]) and aims are whole steps of 1/65536 turn, so a snapshot carries the server's state exactly.
//!
//! Layout:
//! - `map`: the static arena (size, walls, spawn points), its JSON format and its validation.
//! - `world`: the rules, the entities and the tick (`step`), with the movement and combat formulas in its docs.
//! - `grid`: the uniform grids that keep wall and hit queries local, so a tick costs O(players + bullets).
//! - `geom`: circle and segment tests against rectangles and circles.
//! - `rng`: the small seeded generator.
//! - `trail`: the last ticks' player positions, which lag compensation rewinds shots into.

mod geom;
mod grid;
mod map;
mod rng;
mod trail;
mod world;

use glam::Vec2;

pub use map::{Map, MapError, MapProblem, Wall, MAX_SIZE as MAX_MAP_SIZE, MIN_SIZE as MIN_MAP_SIZE};
pub use world::{
    rewind_ticks, Bullet, BulletId, GameEvent, Mover, Player, PlayerId, PlayerInput, Rules, ShotHit, TimedEvent, World,
};

/// A rewind (lag compensation) is carried in steps of 1/64 tick: fine enough that the seen position is off by
/// under a tenth of a unit at full speed, and exact in an `f32`.
pub const REWIND_STEPS: f32 = 64.0;

/// Wire units per world unit, for positions (and for velocities, per second).
pub const POS_SCALE: f32 = 16.0;

/// The wire id of the bullet in slab slot 0; player ids stay below it.
pub const BULLET_ID_BASE: u32 = 65536;

/// Steps of the aim angle in one full turn.
const AIM_STEPS: f64 = 65536.0;

/// Converts a world coordinate (or a velocity component) to wire units: `(v * 16).round()`.
///
/// Saturates at the `i32` range; NaN becomes 0. For a value already on the grid (see [`snap`]) this is exact.
pub fn quantize(v: f32) -> i32 {
    (v * POS_SCALE).round() as i32
}

/// Rounds each component to the nearest multiple of `1 / POS_SCALE` (halfway cases away from zero).
pub fn snap(v: Vec2) -> Vec2 {
    Vec2::new(snap_f32(v.x), snap_f32(v.y))
}

/// [`snap`] for one component.
pub(crate) fn snap_f32(v: f32) -> f32 {
    (v * POS_SCALE).round() / POS_SCALE
}

/// Rounds each component towards zero to a multiple of `1 / POS_SCALE`: how velocities are put on the grid, so
/// that friction always brings a player to a full stop (rounding to nearest would keep 1/16 u/s alive forever,
/// since `1/16 * (1 - friction * dt)` rounds back up) and snapping never lifts a speed above the cap.
pub fn snap_toward_zero(v: Vec2) -> Vec2 {
    (v * POS_SCALE).trunc() / POS_SCALE
}

/// Converts a wire aim (65536 steps per turn, from +x towards +y) to radians in `0..2π`.
pub fn aim_to_radians(aim: u16) -> f32 {
    (f64::from(aim) * std::f64::consts::TAU / AIM_STEPS) as f32
}

/// Converts radians (any value, measured from +x towards +y) to the nearest wire aim step, wrapping around the
/// turn. A non-finite angle gives 0.
pub fn radians_to_aim(r: f32) -> u16 {
    if !r.is_finite() {
        return 0;
    }
    let steps = (f64::from(r) / std::f64::consts::TAU * AIM_STEPS).round() as i64;
    steps.rem_euclid(AIM_STEPS as i64) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_and_saturates() {
        assert_eq!(quantize(1.0), 16);
        assert_eq!(quantize(-2.5), -40);
        assert_eq!(quantize(0.03), 0);
        assert_eq!(quantize(0.04), 1);
        assert_eq!(quantize(f32::MAX), i32::MAX);
        assert_eq!(quantize(f32::MIN), i32::MIN);
        assert_eq!(quantize(f32::NAN), 0);
    }

    #[test]
    fn snap_lands_on_the_grid() {
        let v = snap(Vec2::new(10.03, -7.97));
        assert_eq!(v, Vec2::new(10.0, -8.0));
        assert_eq!(snap(Vec2::new(1.0 / 16.0 * 3.4, 0.0)).x, 3.0 / 16.0);
        for i in -1000..1000 {
            let x = i as f32 * 0.0137;
            let s = snap_f32(x);
            assert_eq!(s * POS_SCALE, (s * POS_SCALE).round());
            assert!((s - x).abs() <= 0.5 / POS_SCALE + 1e-6);
            assert_eq!(snap_f32(s), s, "snapping is idempotent");
        }
    }

    #[test]
    fn snap_toward_zero_truncates() {
        assert_eq!(snap_toward_zero(Vec2::new(0.06, -0.06)), Vec2::ZERO);
        assert_eq!(snap_toward_zero(Vec2::new(1.99, -1.99)), Vec2::new(1.9375, -1.9375));
        assert_eq!(snap_toward_zero(Vec2::new(2.5, -3.0)), Vec2::new(2.5, -3.0));
    }

    #[test]
    fn aim_round_trips() {
        for aim in [0u16, 1, 100, 16384, 32768, 49152, 65535] {
            assert_eq!(radians_to_aim(aim_to_radians(aim)), aim);
        }
        assert_eq!(radians_to_aim(std::f32::consts::FRAC_PI_2), 16384);
        assert_eq!(radians_to_aim(-std::f32::consts::FRAC_PI_2), 49152);
        assert_eq!(radians_to_aim(std::f32::consts::TAU), 0);
        assert_eq!(radians_to_aim(f32::NAN), 0);
        assert_eq!(radians_to_aim(f32::INFINITY), 0);
        assert!((aim_to_radians(32768) - std::f32::consts::PI).abs() < 1e-6);
    }
}
