//! Play feel as numbers: what a player of the browser client would notice, measured by a bot that does what the
//! page does. It predicts its own player from its inputs with the world's own movement formula (`sim::Mover`)
//! and reconciles on every snapshot, counting the corrections; it keeps the page's server clock and interpolation
//! delay (client/interp.js, client/delay.js: adaptive, or fixed at 2 ticks) and walks a 60 Hz render clock over
//! them, counting the frames with no snapshot ahead to interpolate towards (underruns) and the time spent
//! extrapolating; and it tells each input's view delay for lag compensation.
//!
//! A correction is the distance between where the bot had predicted its player after input `S` and where the
//! server put it in the first snapshot that says `last_input_seq = S`; deaths and respawns are left out (they are
//! not prediction errors), as are resumes.

use std::collections::VecDeque;
use std::time::Duration;

use glam::Vec2;
use tokio::time::Instant;

use crate::metrics::Histogram;
use crate::protocol::{player_field, MapInfo, RulesInfo};
use crate::sim::{Map, Mover, PlayerInput, Rules, POS_SCALE};
use crate::snapshot::Entity;

/// Frames per second of the render clock walked between snapshots.
const FRAME_RATE: f64 = 60.0;
/// A correction smaller than this (world units) is rounding, not a correction.
const CORRECTION_EPSILON: f32 = 0.01;

/// The interpolation delay rule (client/delay.js).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DelayRule {
    /// Adapted to the measured lateness of snapshots, 1.5 to 6 ticks.
    Adaptive,
    /// A fixed delay in ticks (the client before adaptive interpolation drew 2 ticks behind).
    Fixed(f64),
}

/// The page's server clock: follows the early edge of arrivals (client/interp.js `ServerClock`).
#[derive(Debug)]
struct ServerClock {
    tick_ms: f64,
    origin: Option<f64>,
}

const CLOCK_RESET_TICKS: f64 = 10.0;

impl ServerClock {
    fn observe(&mut self, tick: u32, now: f64) {
        let sample = now - f64::from(tick) * self.tick_ms;
        match self.origin {
            Some(origin) if (sample - origin).abs() <= CLOCK_RESET_TICKS * self.tick_ms => {
                let diff = sample - origin;
                self.origin = Some(origin + diff * if diff < 0.0 { 0.25 } else { 0.02 });
            }
            _ => self.origin = Some(sample),
        }
    }

    fn lateness(&self, tick: u32, now: f64) -> Option<f64> {
        let late = now - f64::from(tick) * self.tick_ms - self.origin?;
        (late.abs() <= CLOCK_RESET_TICKS * self.tick_ms).then_some(late.max(0.0))
    }

    fn tick_at(&self, now: f64) -> Option<f64> {
        self.origin.map(|origin| (now - origin) / self.tick_ms)
    }
}

/// client/delay.js's `AdaptiveDelay`, or a fixed delay.
#[derive(Debug)]
struct Delay {
    rule: DelayRule,
    tick_ms: f64,
    window: VecDeque<(f64, f64)>,
    ticks: f64,
    target: f64,
    last_update: Option<f64>,
    /// The window's median lateness (ms), for the pacer.
    p50: f64,
}

impl Delay {
    const K: f64 = 1.5;
    const WINDOW_MS: f64 = 2000.0;
    const MIN_TICKS: f64 = 1.5;
    const MAX_TICKS: f64 = 6.0;
    const RISE_MS: f64 = 250.0;
    const FALL_MS: f64 = 4000.0;
    const START_TICKS: f64 = 2.0;

    fn new(rule: DelayRule, tick_ms: f64) -> Delay {
        let start = match rule {
            DelayRule::Adaptive => Delay::START_TICKS,
            DelayRule::Fixed(ticks) => ticks,
        };
        Delay { rule, tick_ms, window: VecDeque::new(), ticks: start, target: start, last_update: None, p50: 0.0 }
    }

    fn arrive(&mut self, now: f64, lateness: Option<f64>) {
        while self.window.front().is_some_and(|(at, _)| now - at > Delay::WINDOW_MS) {
            self.window.pop_front();
        }
        if let Some(late) = lateness {
            self.window.push_back((now, late));
        }
        if self.window.is_empty() {
            if self.rule == DelayRule::Adaptive {
                self.target = Delay::START_TICKS;
            }
            return;
        }
        let mut late: Vec<f64> = self.window.iter().map(|(_, late)| *late).collect();
        late.sort_by(f64::total_cmp);
        let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
        self.p50 = at(0.5);
        if self.rule == DelayRule::Adaptive {
            self.target = (1.0 + Delay::K * at(0.95) / self.tick_ms).clamp(Delay::MIN_TICKS, Delay::MAX_TICKS);
        }
    }

    fn update(&mut self, now: f64) -> f64 {
        if let Some(last) = self.last_update {
            let elapsed = now - last;
            if elapsed > 0.0 && self.ticks != self.target {
                let tau = if self.target > self.ticks { Delay::RISE_MS } else { Delay::FALL_MS };
                let mut next = self.ticks + (self.target - self.ticks) * (1.0 - (-elapsed / tau).exp());
                let max_rise = 0.5 * elapsed / self.tick_ms;
                if next - self.ticks > max_rise {
                    next = self.ticks + max_rise;
                }
                self.ticks = next;
            }
        }
        self.last_update = Some(now);
        self.ticks
    }
}

/// One bot's play-feel measurements (merged into the swarm's report).
#[derive(Clone, Debug, Default)]
pub struct FeelStats {
    /// Corrections of the own player's predicted position, in 1/100 units.
    pub corrections: Histogram,
    /// Predictions checked against the server (corrected or not).
    pub checked: u64,
    /// Render frames walked, those with no snapshot ahead (extrapolating), and how many times that began.
    pub frames: u64,
    pub extrapolating_frames: u64,
    pub underruns: u64,
    /// How far behind the newest snapshot the remote players were drawn, per frame, in 1/100 ticks.
    pub behind_newest: Histogram,
    /// The interpolation delay per frame, in 1/100 ticks.
    pub delay: Histogram,
    /// Snapshot lateness behind the clock's expectation, in microseconds.
    pub lateness: Histogram,
}

impl FeelStats {
    pub fn merge(&mut self, other: &FeelStats) {
        self.corrections.merge(&other.corrections);
        self.checked += other.checked;
        self.frames += other.frames;
        self.extrapolating_frames += other.extrapolating_frames;
        self.underruns += other.underruns;
        self.behind_newest.merge(&other.behind_newest);
        self.delay.merge(&other.delay);
        self.lateness.merge(&other.lateness);
    }
}

/// What one bot runs alongside its game client.
pub struct Feel {
    start: Instant,
    tick_ms: f64,
    clock: ServerClock,
    delay: Delay,
    mover: Mover,
    /// The predicted own state after the newest input, and the inputs not yet reflected by a snapshot:
    /// `(seq, movement, predicted position after it)`.
    predicted: Option<(Vec2, Vec2)>,
    pending: VecDeque<(u32, Vec2, Vec2)>,
    newest_tick: u32,
    next_frame: f64,
    extrapolating: bool,
    /// Whether the own player was alive in the previous snapshot.
    was_alive: bool,
    /// When the pacer wanted the last input sent (ms since `start`).
    input_due: Option<f64>,
    pub stats: FeelStats,
}

impl Feel {
    pub fn new(map: &MapInfo, rules: &RulesInfo, tick_rate: u16, delay: DelayRule) -> Feel {
        let map = Map::from(map);
        let rate = u32::from(tick_rate.max(1));
        let sim_rules = Rules {
            player_radius: rules.player_radius,
            accel: rules.accel,
            friction: rules.friction,
            max_speed: rules.max_speed,
            ..Rules::for_tick_rate(rate.min(240))
        };
        let tick_ms = 1000.0 / f64::from(rate);
        Feel {
            start: Instant::now(),
            tick_ms,
            clock: ServerClock { tick_ms, origin: None },
            delay: Delay::new(delay, tick_ms),
            mover: Mover::new(&map, &sim_rules),
            predicted: None,
            pending: VecDeque::new(),
            newest_tick: 0,
            next_frame: 0.0,
            extrapolating: false,
            was_alive: false,
            input_due: None,
            stats: FeelStats::default(),
        }
    }

    fn millis(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }

    /// Walks the render clock's frames up to `now` with what was known before it.
    fn frames_until(&mut self, now: f64) {
        let frame_ms = 1000.0 / FRAME_RATE;
        if self.next_frame == 0.0 {
            self.next_frame = now;
        }
        // After a long gap (a resume) only the last second of frames is walked: the bot was not drawing.
        self.next_frame = self.next_frame.max(now - 1000.0);
        while self.next_frame <= now {
            let at = self.next_frame;
            self.next_frame += frame_ms;
            let ticks = self.delay.update(at);
            let Some(server_tick) = self.clock.tick_at(at) else { continue };
            let render = server_tick - ticks;
            self.stats.frames += 1;
            self.stats.delay.record((ticks * 100.0) as u64);
            self.stats.behind_newest.record(((f64::from(self.newest_tick) - render).max(0.0) * 100.0) as u64);
            let extrapolating = render > f64::from(self.newest_tick);
            self.stats.extrapolating_frames += u64::from(extrapolating);
            self.stats.underruns += u64::from(extrapolating && !self.extrapolating);
            self.extrapolating = extrapolating;
        }
    }

    /// A snapshot of `tick` was applied at `now`, showing `me` (the own player) after input `last_input_seq`.
    pub fn snapshot(&mut self, now: Instant, tick: u32, last_input_seq: u32, me: Option<&Entity>) {
        let now = self.millis(now);
        self.frames_until(now);
        let lateness = self.clock.lateness(tick, now);
        if let Some(late) = lateness {
            self.stats.lateness.record((late * 1000.0) as u64);
        }
        self.delay.arrive(now, lateness);
        self.clock.observe(tick, now);
        self.newest_tick = tick;
        let Some(me) = me else { return };
        let field = |i: usize| me.fields[i] as f32 / POS_SCALE;
        let server = (
            Vec2::new(field(player_field::X), field(player_field::Y)),
            Vec2::new(field(player_field::VX), field(player_field::VY)),
        );
        let alive = me.fields[player_field::HP] > 0;
        if let Some(&(_, _, predicted)) = self.pending.iter().find(|(seq, _, _)| *seq == last_input_seq) {
            // Only ordinary movement: alive now and before (a death or respawn moves the player by the rules).
            if alive && self.was_alive {
                let error = predicted.distance(server.0);
                self.stats.checked += 1;
                if error > CORRECTION_EPSILON {
                    self.stats.corrections.record((error * 100.0).round() as u64);
                }
            }
        }
        self.was_alive = alive;
        while self.pending.front().is_some_and(|(seq, _, _)| *seq <= last_input_seq) {
            self.pending.pop_front();
        }
        // Reconcile: the server's state, then the inputs it has not applied yet.
        let mut state = server;
        for (_, movement, predicted) in self.pending.iter_mut() {
            state = self.mover.step(state, PlayerInput { movement: *movement, ..PlayerInput::default() });
            *predicted = state.0;
        }
        self.predicted = Some(state);
    }

    /// An input `seq` with this movement is being sent at `now`; returns its view delay in milliseconds (how far
    /// behind `ack_tick` the remote players are drawn).
    pub fn input(&mut self, now: Instant, seq: u32, move_x: i8, move_y: i8, ack_tick: u32) -> u16 {
        let now = self.millis(now);
        self.frames_until(now);
        let movement = Vec2::new(f32::from(move_x), f32::from(move_y)) / 127.0;
        if let Some(state) = self.predicted {
            let state = self.mover.step(state, PlayerInput { movement, ..PlayerInput::default() });
            self.predicted = Some(state);
            if self.pending.len() == 64 {
                self.pending.pop_front();
            }
            self.pending.push_back((seq, movement, state.0));
        }
        let ticks = self.delay.ticks;
        match self.clock.tick_at(now) {
            Some(server_tick) if ack_tick > 0 => {
                let ms = (f64::from(ack_tick) - (server_tick - ticks)) * self.tick_ms;
                ms.clamp(0.0, f64::from(crate::protocol::MAX_VIEW_DELAY_MS)).round() as u16
            }
            _ => 0,
        }
    }

    /// When the input after one sent at `sent` is due, with the page's pacer (client/interp.js `InputPacer`): a
    /// steady one-tick rhythm whose phase slews by at most 2 ms per input towards sending `0.5 tick - rtt +
    /// median lateness` after a state's expected arrival (the clock follows the early edge of arrivals), so each
    /// input reaches the server mid-way between two of its ticks.
    pub fn next_input_at(&mut self, sent: Instant, rtt: Option<Duration>) -> Instant {
        const MAX_SLEW_MS: f64 = 2.0;
        let now = self.millis(sent);
        let tick = self.tick_ms;
        let mut due = match self.input_due {
            Some(due) if now - due <= 2.0 * tick => due + tick,
            _ => now + tick,
        };
        if let Some(origin) = self.clock.origin {
            let want = 0.5 * tick - rtt.map_or(0.0, |rtt| rtt.as_secs_f64() * 1000.0) + self.delay.p50;
            let mut err = (due - origin - want).rem_euclid(tick);
            if err > tick / 2.0 {
                err -= tick;
            }
            due -= err.clamp(-MAX_SLEW_MS, MAX_SLEW_MS);
        }
        self.input_due = Some(due);
        self.start + Duration::from_secs_f64(due.max(0.0) / 1000.0)
    }

    /// The socket dropped: predictions in flight are void (the server discards queued inputs on a resume).
    pub fn reset_prediction(&mut self) {
        self.pending.clear();
        self.predicted = None;
        self.was_alive = false;
    }

    /// Elapsed time the bot measured over.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adaptive_delay_rises_with_lateness_and_stays_low_on_a_clean_link() {
        let tick_ms = 1000.0 / 30.0;
        let mut clean = Delay::new(DelayRule::Adaptive, tick_ms);
        let mut jittery = Delay::new(DelayRule::Adaptive, tick_ms);
        for i in 0..120 {
            let now = f64::from(i) * tick_ms;
            clean.arrive(now, Some(1.0));
            jittery.arrive(now, Some(f64::from(i % 5) * 10.0));
            clean.update(now);
            jittery.update(now);
        }
        assert!((1.5..1.7).contains(&clean.ticks), "clean link: {} ticks", clean.ticks);
        // p95 lateness 40 ms: 1 + 1.5 * 40 / 33.3 = 2.8 ticks.
        assert!((2.6..3.0).contains(&jittery.ticks), "jittery link: {} ticks", jittery.ticks);
        let mut fixed = Delay::new(DelayRule::Fixed(2.0), tick_ms);
        fixed.arrive(0.0, Some(500.0));
        assert_eq!(fixed.update(100.0), 2.0);
    }

    #[test]
    fn the_clock_follows_the_early_edge() {
        let mut clock = ServerClock { tick_ms: 10.0, origin: None };
        clock.observe(1, 110.0);
        assert_eq!(clock.lateness(2, 135.0), Some(15.0));
        clock.observe(2, 105.0);
        assert!(clock.origin.expect("set") < 100.0, "an early arrival pulls the origin earlier");
        assert_eq!(clock.lateness(3, 10_000.0), None, "a jump past the reset is not lateness");
    }
}
