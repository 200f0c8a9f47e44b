//! Step vectors of the real simulation for the browser client's predictor: `client/test/steps.json`. A [`World`] on
//! maps with walls is fed varied inputs (accelerating, friction slides to a stop, diagonals, partial inputs, walls,
//! corners, edges, the speed cap) and every step's input and resulting own-player state is recorded, in wire units,
//! next to the welcome message the predictor is built from. `client/test/predict.test.mjs` requires the client's
//! predictor to land on every one of those states exactly.
//!
//! When `World::step` changes this test fails until the file is regenerated with
//! `SKIRMISH_BLESS=1 cargo test --test golden_steps` (review the diff: the client must change along with it).

mod common;

use common::golden_files::{check_committed, hex};
use std::fmt::Write as _;

use glam::Vec2;
use serde_json::{json, Value};
use skirmish::codec::{decode_server, encode_server};
use skirmish::protocol::player_field as pf;
use skirmish::protocol::{MapInfo, Role, RoomInfo, RulesInfo, ServerMessage, Welcome, PROTOCOL_VERSION};
use skirmish::sim::{quantize, snap, snap_toward_zero, Map, PlayerId, PlayerInput, Rules, World, POS_SCALE};

/// Where the step vectors live, relative to the crate root.
const STEPS_PATH: &str = "client/test/steps.json";

/// A map with touching, overlapping and thin walls, staircases, gaps narrower than a player and walls across grid
/// cells (the walls the predictor's hand-written tests used), with one spawn so the start is known.
const TRICKY_MAP: &str = r#"{"name": "tricky", "width": 700, "height": 500, "walls": [
    [100, 100, 60, 20], [140, 100, 20, 90], [200, 60, 30, 200], [260, 60, 30, 200], [320, 150, 64, 64],
    [384, 150, 64, 64], [320, 214, 64, 64], [470, 40, 10, 10], [480, 50, 10, 10], [490, 60, 10, 10],
    [500, 70, 10, 10], [510, 80, 10, 10], [520, 90, 10, 10], [60, 300, 200, 17], [60, 340, 200, 17],
    [300, 320, 5, 5], [330, 330, 3, 90], [360, 300, 33, 33], [375, 315, 33, 33], [450, 300, 100, 100],
    [560, 300, 100, 100], [450, 410, 210, 30], [620, 20, 30, 30], [655, 20, 30, 30], [0, 470, 700, 30],
    [0, 0, 30, 30]], "spawns": [[100, 250]]}"#;

/// Movements the wandering segments pick from: both axes, diagonals, partial and over-long inputs, and release.
const MOVES: [(i8, i8); 16] = [
    (127, 0),
    (-127, 0),
    (0, 127),
    (0, -127),
    (127, 127),
    (-127, 127),
    (127, -127),
    (-127, -127),
    (0, 0),
    (0, 0),
    (59, 0),
    (-90, 90),
    (127, 30),
    (-17, -127),
    (100, -100),
    (1, 0),
];

/// xorshift64*: the scripts' own seeded choices (the simulation's generator is private to it).
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A movement value in -127..=127 (the wire's range).
    fn axis(&mut self) -> i8 {
        (self.below(255) as i32 - 127) as i8
    }
}

/// A labelled run of inputs, one per tick.
struct Segment {
    label: String,
    inputs: Vec<(i8, i8)>,
}

fn hold(label: &str, movement: (i8, i8), ticks: usize) -> Segment {
    Segment { label: label.to_string(), inputs: vec![movement; ticks] }
}

/// `ticks` inputs changing every 2 to 12 ticks: mostly from [`MOVES`], one choice in four random on both axes.
fn wander(label: &str, seed: u64, ticks: usize) -> Segment {
    let mut choices = Choices(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut inputs = Vec::with_capacity(ticks);
    while inputs.len() < ticks {
        let movement = if choices.below(4) == 0 {
            (choices.axis(), choices.axis())
        } else {
            MOVES[choices.below(MOVES.len() as u64) as usize]
        };
        let run = 2 + choices.below(11) as usize;
        inputs.extend(std::iter::repeat_n(movement, run.min(ticks - inputs.len())));
    }
    Segment { label: label.to_string(), inputs }
}

struct Scenario {
    name: &'static str,
    map: Map,
    rules: Rules,
    tick_rate: u32,
    segments: Vec<Segment>,
}

/// A small room with a block in the middle and an L of two walls whose inside corner is a pocket: for corners (the
/// world's and the walls') and slides along faces.
const BOX_MAP: &str = r#"{"name": "box", "width": 320, "height": 240, "walls": [
    [140, 100, 40, 40], [240, 40, 50, 10], [280, 40, 10, 60]], "spawns": [[60, 60]]}"#;

fn tricky() -> Map {
    Map::parse(TRICKY_MAP, "tricky step-vector map").expect("valid step-vector map")
}

/// The default rules at `tick_rate` with other movement constants (the wire carries them as f32).
fn rules_with(tick_rate: u32, player_radius: f32, accel: f32, friction: f32, max_speed: f32) -> Rules {
    Rules { player_radius, accel, friction, max_speed, ..Rules::for_tick_rate(tick_rate) }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "tricky, default rules, 30 Hz",
            map: tricky(),
            rules: Rules::for_tick_rate(30),
            tick_rate: 30,
            segments: vec![
                hold("standing still", (0, 0), 3),
                hold("accelerating right from rest into the wall at x = 200", (127, 0), 20),
                hold("backing off left", (-127, 0), 8),
                hold("friction: sliding to a full stop", (0, 0), 25),
                hold("diagonal down-right onto the bar at y = 300, sliding along it", (127, 127), 30),
                hold("partial input up-left", (-59, -90), 15),
                hold("up-left into the left face of the wall at x = 260, sliding up it", (-127, -127), 40),
                hold("back down along that face", (0, 127), 30),
                hold("friction: sliding to a stop again", (0, 0), 30),
                wander("wandering", 1, 100),
            ],
        },
        Scenario {
            name: "tricky, odd rules (radius 15.5, accel 2000.5, friction 8.5, cap 199.7), 30 Hz",
            map: tricky(),
            rules: rules_with(30, 15.5, 2000.5, 8.5, 199.7),
            tick_rate: 30,
            segments: vec![
                hold("accelerating right into the wall at x = 200", (127, 0), 20),
                hold("standing against the wall, no input", (0, 0), 5),
                hold("up along the wall's face", (90, -127), 20),
                hold("backing off down-left", (-127, 60), 8),
                hold("friction: sliding to a full stop", (0, 0), 30),
                wander("wandering", 2, 100),
            ],
        },
        Scenario {
            name: "tricky, fast player (accel 5000, friction 3, cap 400), 20 Hz",
            map: tricky(),
            rules: rules_with(20, 16.0, 5000.0, 3.0, 400.0),
            tick_rate: 20,
            segments: vec![
                hold("accelerating down into the bar at y = 300", (0, 127), 12),
                hold("back up", (0, -127), 4),
                hold("friction: a long slide (friction 3/s)", (0, 0), 20),
                wander("wandering at the cap", 3, 110),
            ],
        },
        Scenario {
            name: "tricky, default rules, 60 Hz",
            map: tricky(),
            rules: Rules::for_tick_rate(60),
            tick_rate: 60,
            segments: vec![
                hold("accelerating up into the wall at y = 120", (0, -127), 40),
                wander("wandering", 4, 100),
            ],
        },
        Scenario {
            name: "box, default rules, 30 Hz: corners",
            map: Map::parse(BOX_MAP, "box step-vector map").expect("valid step-vector map"),
            rules: Rules::for_tick_rate(30),
            tick_rate: 30,
            segments: vec![
                hold("into the top-left corner of the world", (-127, -127), 12),
                hold("diagonal down-right into the block's left face, sliding down it", (127, 127), 25),
                hold("past the block's bottom-left corner, then along the bottom edge", (127, 127), 25),
                hold("friction along the bottom edge", (0, 0), 5),
                hold("left along the bottom edge into the bottom-left corner", (-127, 127), 50),
                hold("up-right into the block's left face again", (127, -127), 30),
                hold("right into the end of the L's top bar, and up over it", (127, -40), 25),
                hold("along the top edge", (127, -127), 8),
                hold("friction: sliding to a stop on the top edge", (0, 0), 30),
                hold("down into the gap between the L and the right edge, narrower than a player", (127, 127), 10),
                hold("up the gap into the top-right corner", (127, -127), 30),
                wander("wandering", 6, 40),
            ],
        },
        Scenario {
            name: "bundled arena, default rules, 30 Hz",
            map: Map::bundled_arena(),
            rules: Rules::for_tick_rate(30),
            tick_rate: 30,
            segments: vec![
                hold("a long run left into the bar at x = 2200", (-127, 0), 30),
                hold("up and away from the bar", (0, -127), 10),
                hold("friction: sliding to a full stop", (0, 0), 35),
                hold("a long diagonal down-left onto the bar, sliding along its top", (-127, 127), 60),
                wander("wandering", 5, 80),
            ],
        },
    ]
}

/// The own player as the client reads it from a snapshot: x, y, and its exact vx, vy (the entity's, a multiple of
/// the tick rate, plus the snapshot's `own` rest), in wire units (1/16).
fn wire_state(world: &World, id: PlayerId) -> [i32; 4] {
    let snapshot = skirmish::snapshot::WorldSnapshot::capture(world);
    let fields = snapshot.entity(id.wire_id()).expect("the player is in the snapshot").fields;
    let [rest_x, rest_y] = snapshot.velocity_rest(id.wire_id()).expect("a player has a velocity rest");
    assert_eq!(fields[pf::HP], i32::from(world.rules().max_hp), "nothing hurts the player");
    [fields[pf::X], fields[pf::Y], fields[pf::VX] + rest_x, fields[pf::VY] + rest_y]
}

/// What the room makes of a wire input's movement (room.rs, `player_input`; PROTOCOL.md: `axis = value / 127`).
fn movement(mx: i8, my: i8) -> Vec2 {
    Vec2::new(f32::from(mx), f32::from(my)) / 127.0
}

/// Where a step would end without walls or edges, and whether the speed cap applied: only to tell, in the coverage
/// counts, which kind of step each recorded one is (the recorded states come from `World::step` alone).
fn unobstructed(rules: &Rules, state: [i32; 4], m: Vec2) -> ([i32; 4], bool) {
    let scale = |v: i32| v as f32 / POS_SCALE;
    let (pos, vel) = (Vec2::new(scale(state[0]), scale(state[1])), Vec2::new(scale(state[2]), scale(state[3])));
    let m = PlayerInput { movement: m, aim: 0, fire: false, rewind: 0.0 }.sanitized().movement;
    let mut v = (vel + m * (rules.accel * rules.dt)) * (1.0 - rules.friction * rules.dt).max(0.0);
    let speed = v.length();
    let capped = speed > rules.max_speed;
    if capped {
        v *= rules.max_speed / speed;
    }
    let (p, v) = (snap(pos + v * rules.dt), snap_toward_zero(v));
    ([quantize(p.x), quantize(p.y), quantize(v.x), quantize(v.y)], capped)
}

/// How many recorded steps are of each kind that matters to the predictor.
#[derive(Debug, Default)]
struct Coverage {
    steps: usize,
    diagonal: usize,
    partial: usize,
    wall_contacts: usize,
    edge_contacts: usize,
    /// Contacts that zeroed one velocity component and kept the other: sliding along a wall or edge.
    slides: usize,
    /// Contacts that zeroed both components while pushing on both axes: stuck in a corner.
    corners: usize,
    /// Steps without input that brought a moving player to a full stop, away from walls.
    friction_stops: usize,
    capped: usize,
}

impl Coverage {
    fn count(&mut self, rules: &Rules, map: &Map, before: [i32; 4], (mx, my): (i8, i8), after: [i32; 4]) {
        let (free, capped) = unobstructed(rules, before, movement(mx, my));
        let lo = quantize((rules.player_radius * POS_SCALE).ceil() / POS_SCALE);
        let hi = |size: i32| quantize(((size as f32 - rules.player_radius) * POS_SCALE).floor() / POS_SCALE);
        let outside = free[0] < lo || free[0] > hi(map.width) || free[1] < lo || free[1] > hi(map.height);
        let contact = free != after;
        self.steps += 1;
        self.diagonal += usize::from(mx != 0 && my != 0);
        self.partial += usize::from(![0, 127, -127].contains(&mx) || ![0, 127, -127].contains(&my));
        self.capped += usize::from(capped);
        if contact {
            self.edge_contacts += usize::from(outside);
            self.wall_contacts += usize::from(!outside);
            self.slides += usize::from((after[2] == 0) != (after[3] == 0));
            self.corners += usize::from(after[2] == 0 && after[3] == 0 && mx != 0 && my != 0);
        } else if (mx, my) == (0, 0) && before[2..] != [0, 0] && after[2..] == [0, 0] {
            self.friction_stops += 1;
        }
    }

    fn add(&mut self, other: &Coverage) {
        self.steps += other.steps;
        self.diagonal += other.diagonal;
        self.partial += other.partial;
        self.wall_contacts += other.wall_contacts;
        self.edge_contacts += other.edge_contacts;
        self.slides += other.slides;
        self.corners += other.corners;
        self.friction_stops += other.friction_stops;
        self.capped += other.capped;
    }
}

/// A plain re-implementation of `World::step`'s movement pass (in f64, rounding every operation to f32 as the
/// client does, with a brute-force wall query), and plausible ways a port goes wrong, each a variant of it. They
/// only choose which steps of the long runs are written to steps.json as delicate: a step is kept when a variant
/// lands elsewhere than `World::step` did. What the file records is always the world's own result. [`PORT`] itself
/// must agree with the world on every step, or the variants would not be the mistakes they say: a change to
/// `World::step` makes that check fail too, and this mirror changes along with it (and with client/predict.js).
#[derive(Clone, Copy, Debug)]
struct Port {
    why: &'static str,
    /// Round every operation to f32 (false: compute in doubles).
    f32: bool,
    passes: usize,
    /// Prefer the y push only when it is strictly shorter (false: y wins ties, the wrong way round).
    x_wins_ties: bool,
    /// Visit near walls in reverse map order.
    reversed: bool,
    /// Round the length of an over-long movement input to f32 before dividing by it.
    length_f32: bool,
}

const PORT: Port = Port { why: "", f32: true, passes: 4, x_wins_ties: true, reversed: false, length_f32: true };
const PORT_VARIANTS: [Port; 5] = [
    Port { why: "computing in doubles instead of f32", f32: false, ..PORT },
    Port { why: "with one pass of wall resolution instead of four", passes: 1, ..PORT },
    Port { why: "where y wins ties between the x and y pushes", x_wins_ties: false, ..PORT },
    Port { why: "visiting the near walls in reverse map order", reversed: true, ..PORT },
    Port { why: "leaving the length of an over-long input in doubles", length_f32: false, ..PORT },
];

/// Steps kept per port variant and scenario from the long runs.
const DELICATE_PER_VARIANT: usize = 6;
/// Steps of each scenario's long run (wandering after the scripts) searched for delicate steps.
const LONG_RUN_STEPS: usize = 20_000;

impl Port {
    fn r(&self, v: f64) -> f64 {
        if self.f32 {
            v as f32 as f64
        } else {
            v
        }
    }

    /// One step of an alive player from `before` (wire units) with movement (mx, my); the state after, wire units.
    fn step(&self, map: &Map, rules: &Rules, tick_rate: u32, before: [i32; 4], (mx, my): (i8, i8)) -> [i32; 4] {
        let r = |v: f64| self.r(v);
        let snap = |v: f64| (v * 16.0).abs().round().copysign(v) / 16.0;
        let (floor16, ceil16) = (|v: f64| (v * 16.0).floor() / 16.0, |v: f64| (v * 16.0).ceil() / 16.0);
        let f = |v: f32| f64::from(v);
        let dt = r(1.0 / f64::from(tick_rate));
        let radius = f(rules.player_radius);
        let (mut ix, mut iy) = (r(f64::from(mx) / 127.0), r(f64::from(my) / 127.0));
        let length_sq = r(r(ix * ix) + r(iy * iy));
        if length_sq > 1.0 {
            let length = if self.length_f32 { r(length_sq.sqrt()) } else { length_sq.sqrt() };
            (ix, iy) = (r(ix / length), r(iy / length));
        }
        let accel_dt = r(f(rules.accel) * dt);
        let damping = r(1.0 - r(f(rules.friction) * dt)).max(0.0);
        let wire = |v: i32| f64::from(v) / 16.0;
        let mut vx = r(r(wire(before[2]) + r(ix * accel_dt)) * damping);
        let mut vy = r(r(wire(before[3]) + r(iy * accel_dt)) * damping);
        let speed = r(r(r(vx * vx) + r(vy * vy)).sqrt());
        if speed > f(rules.max_speed) {
            let k = r(f(rules.max_speed) / speed);
            (vx, vy) = (r(vx * k), r(vy * k));
        }
        let mut px = snap(r(wire(before[0]) + r(vx * dt)));
        let mut py = snap(r(wire(before[1]) + r(vy * dt)));
        let rects: Vec<[f64; 4]> = map
            .walls
            .iter()
            .map(|w| [f64::from(w.x), f64::from(w.y), f64::from(w.x + w.w), f64::from(w.y + w.h)])
            .collect();
        let reach = r(radius + 1.0);
        let r2 = r(radius * radius);
        for _ in 0..self.passes {
            let (x0, x1, y0, y1) = (r(px - reach), r(px + reach), r(py - reach), r(py + reach));
            let mut near: Vec<usize> = (0..rects.len())
                .filter(|&i| rects[i][0] <= x1 && rects[i][2] >= x0 && rects[i][1] <= y1 && rects[i][3] >= y0)
                .collect();
            if self.reversed {
                near.reverse();
            }
            let mut pushed = false;
            for &[min_x, min_y, max_x, max_y] in near.iter().map(|&i| &rects[i]) {
                let dx = r(px - px.max(min_x).min(max_x));
                let dy = r(py - py.max(min_y).min(max_y));
                if r(r(dx * dx) + r(dy * dy)) >= r2 {
                    continue;
                }
                pushed = true;
                let hx = r(r(r2 - r(dy * dy)).max(0.0).sqrt());
                let hy = r(r(r2 - r(dx * dx)).max(0.0).sqrt());
                let (left, right) = (r(px - r(min_x - hx)), r(r(max_x + hx) - px));
                let (up, down) = (r(py - r(min_y - hy)), r(r(max_y + hy) - py));
                let x_push =
                    if self.x_wins_ties { left.min(right) <= up.min(down) } else { left.min(right) < up.min(down) };
                if x_push {
                    px = if left <= right { floor16(r(min_x - hx)) } else { ceil16(r(max_x + hx)) };
                    vx = 0.0;
                } else {
                    py = if up <= down { floor16(r(min_y - hy)) } else { ceil16(r(max_y + hy)) };
                    vy = 0.0;
                }
            }
            if !pushed {
                break;
            }
        }
        let lo = ceil16(radius);
        let (hi_x, hi_y) = (floor16(r(f64::from(map.width) - radius)), floor16(r(f64::from(map.height) - radius)));
        if px < lo || px > hi_x {
            (px, vx) = (px.clamp(lo, hi_x), 0.0);
        }
        if py < lo || py > hi_y {
            (py, vy) = (py.clamp(lo, hi_y), 0.0);
        }
        let trunc16 = |v: f64| (v * 16.0).trunc();
        [(snap(px) * 16.0) as i32, (snap(py) * 16.0) as i32, trunc16(vx) as i32, trunc16(vy) as i32]
    }
}

/// What [`step_vectors`] produced.
struct Generated {
    /// steps.json.
    text: String,
    coverage: Coverage,
    /// Delicate steps kept, per port variant.
    delicate: [usize; PORT_VARIANTS.len()],
    /// Steps (scripted and long runs) where [`PORT`] disagrees with the world: 0 while it mirrors `World::step`.
    port_mismatches: usize,
}

/// Runs every scenario on a real [`World`]: its scripted steps, then its long run for delicate steps.
fn step_vectors() -> Generated {
    let mut out = String::from("{\n");
    out.push_str(
        "  \"about\": \"Written by tests/golden.rs (SKIRMISH_BLESS=1 cargo test --test golden) from World::step: \
         per scenario, the welcome the server would send (map, rules, tick rate: what the predictor is built \
         from), the own player's start [x, y, vx, vy] and, per step, [move_x, move_y, x, y, vx, vy] after the \
         step: the input applied and the state a snapshot then carries, in wire units (1/16); then the delicate \
         steps of a long run on (before, input, after), where a port with a classic mistake (wrong) goes astray. \
         client/test/predict.test.mjs requires the predictor to reproduce every step exactly.\",\n",
    );
    out.push_str("  \"scenarios\": [\n");
    let mut total = Coverage::default();
    let mut delicate_found = [0usize; PORT_VARIANTS.len()];
    let mut port_mismatches = 0;
    let scenarios = scenarios();
    for (n, scenario) in scenarios.iter().enumerate() {
        assert_eq!(scenario.rules.dt, 1.0 / scenario.tick_rate as f32, "{}: dt matches the tick rate", scenario.name);
        let mut world = World::new(scenario.map.clone(), scenario.rules.clone(), 1);
        let id = world.add_player("predicted");
        // The welcome as the room builds it on a join (room.rs).
        let welcome = ServerMessage::Welcome(Welcome {
            version: PROTOCOL_VERSION,
            player_id: id.wire_id(),
            tick_rate: scenario.tick_rate as u16,
            tick: world.tick(),
            map: MapInfo::from(world.map()),
            rules: RulesInfo::from(world.rules()),
            room: RoomInfo { id: "steps2345abc".into(), name: scenario.name.into(), role: Role::Player },
            session: Some(skirmish::protocol::SessionInfo {
                resume_token: format!("steps2345abc.{}", "a".repeat(32)),
                grace_ms: 20_000,
                input_seq: 0,
            }),
        });
        let bytes = encode_server(&welcome);
        assert_eq!(decode_server(&bytes).expect("welcome decodes"), welcome, "{}: welcome round trip", scenario.name);
        let start = wire_state(&world, id);
        let mut coverage = Coverage::default();
        let mut state = start;
        let _ = write!(
            out,
            "    {{\n      \"name\": {},\n      \"welcome\": \"{}\",\n      \"start\": {},\n      \"segments\": [\n",
            json!(scenario.name),
            hex(&bytes),
            json!(start)
        );
        for (s, segment) in scenario.segments.iter().enumerate() {
            let _ = write!(out, "        {{\n          \"label\": {},\n          \"steps\": [\n", json!(segment.label));
            for (i, &(mx, my)) in segment.inputs.iter().enumerate() {
                assert!(mx != i8::MIN && my != i8::MIN, "movement values stay in -127..=127");
                assert!(
                    world.set_input(id, PlayerInput { movement: movement(mx, my), aim: 0, fire: false, rewind: 0.0 }),
                    "the player is in the world"
                );
                world.step();
                let after = wire_state(&world, id);
                coverage.count(&scenario.rules, &scenario.map, state, (mx, my), after);
                port_mismatches += usize::from(
                    PORT.step(&scenario.map, &scenario.rules, scenario.tick_rate, state, (mx, my)) != after,
                );
                state = after;
                let comma = if i + 1 < segment.inputs.len() { "," } else { "" };
                let _ = writeln!(out, "            {}{comma}", json!([mx, my, after[0], after[1], after[2], after[3]]));
            }
            let comma = if s + 1 < scenario.segments.len() { "," } else { "" };
            let _ = writeln!(out, "          ]\n        }}{comma}");
        }
        // The long run: wandering on, keeping the steps some port variant gets wrong.
        out.push_str("      ],\n      \"delicate\": [\n");
        let mut kept = [0usize; PORT_VARIANTS.len()];
        let mut delicate = Vec::new();
        for (mx, my) in wander("long run", 100 + n as u64, LONG_RUN_STEPS).inputs {
            world.set_input(id, PlayerInput { movement: movement(mx, my), aim: 0, fire: false, rewind: 0.0 });
            world.step();
            let after = wire_state(&world, id);
            port_mismatches +=
                usize::from(PORT.step(&scenario.map, &scenario.rules, scenario.tick_rate, state, (mx, my)) != after);
            let wrong: Vec<usize> = (0..PORT_VARIANTS.len())
                .filter(|&v| {
                    PORT_VARIANTS[v].step(&scenario.map, &scenario.rules, scenario.tick_rate, state, (mx, my)) != after
                })
                .collect();
            let fresh = !delicate.iter().any(|(before, input, _)| (*before, *input) == (state, (mx, my)));
            if fresh && wrong.iter().any(|&v| kept[v] < DELICATE_PER_VARIANT) {
                for &v in &wrong {
                    kept[v] += 1;
                }
                let why: Vec<&str> = wrong.iter().map(|&v| PORT_VARIANTS[v].why).collect();
                delicate.push((
                    state,
                    (mx, my),
                    format!(
                        "{{\"before\": {}, \"input\": {}, \"after\": {}, \"wrong\": {}}}",
                        json!(state),
                        json!([mx, my]),
                        json!(after),
                        json!(why)
                    ),
                ));
            }
            state = after;
        }
        for (i, (_, _, step)) in delicate.iter().enumerate() {
            let comma = if i + 1 < delicate.len() { "," } else { "" };
            let _ = writeln!(out, "        {step}{comma}");
        }
        eprintln!("{}: delicate steps kept per port variant {kept:?}", scenario.name);
        for (found, kept) in delicate_found.iter_mut().zip(kept) {
            *found += kept;
        }
        let comma = if n + 1 < scenarios.len() { "," } else { "" };
        let _ = writeln!(out, "      ]\n    }}{comma}");
        eprintln!("{}: {coverage:?}", scenario.name);
        total.add(&coverage);
    }
    out.push_str("  ]\n}\n");
    Generated { text: out, coverage: total, delicate: delicate_found, port_mismatches }
}

#[test]
fn step_vectors_match_the_committed_file() {
    let Generated { text, coverage, delicate, port_mismatches } = step_vectors();
    eprintln!("all scenarios: {coverage:?}; delicate steps per port variant: {delicate:?}");
    let parsed: Value = serde_json::from_str(&text).expect("steps.json is valid JSON");
    assert_eq!(parsed["scenarios"].as_array().map(Vec::len), Some(scenarios().len()));
    check_committed(STEPS_PATH, &text, "what World::step now does for the scripts in tests/golden_steps.rs");

    // What the vectors must keep covering, whatever the scripts become (the counts of today's scripts are above
    // these).
    let minimums = [
        ("steps", coverage.steps, 1000),
        ("diagonal inputs", coverage.diagonal, 500),
        ("partial inputs", coverage.partial, 200),
        ("wall contacts", coverage.wall_contacts, 300),
        ("edge contacts", coverage.edge_contacts, 120),
        ("slides along a wall or edge", coverage.slides, 300),
        ("corners", coverage.corners, 25),
        ("friction stops", coverage.friction_stops, 4),
        ("steps at the speed cap", coverage.capped, 30),
    ];
    for (what, count, minimum) in minimums {
        assert!(count >= minimum, "the step vectors have {count} {what}, fewer than {minimum}: {coverage:?}");
    }
    assert_eq!(
        port_mismatches, 0,
        "the movement mirror `Port` in tests/golden.rs disagrees with World::step on {port_mismatches} steps: if \
         World::step changed on purpose, change `Port::step` the same way (it picks the delicate steps)"
    );
    for (port, &found) in PORT_VARIANTS.iter().zip(&delicate) {
        assert!(found > 0, "no step of the long runs catches a port {}", port.why);
    }
}
