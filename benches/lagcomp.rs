//! What lag compensation costs a tick, at [`LAGCOMP_PLAYERS`] players: `lagcomp/off` and `lagcomp/on` time
//! `World::step` of two worlds from the same seed, crowded with bots and warmed up alike (as in `tick.rs`), one with
//! lag compensation off (no trail kept, every shot resolved in the present) and one at the default 200 ms cap with
//! every shot rewound [`LAGCOMP_REWIND`] ticks (150 ms at 30 Hz: a 100 ms round trip and the client's
//! interpolation delay), so every bullet is tested against the trail of past positions for its whole flight. Their
//! difference is the cost of the trail and the rewound hit tests. A bench of its own, so that running it does not
//! build the tick bench's 5,000-player rooms first.

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Players of the lag-compensation benches.
const LAGCOMP_PLAYERS: usize = 1_000;
/// Ticks each shot of `lagcomp/on` is rewound by.
const LAGCOMP_REWIND: f32 = 4.5;

/// `lagcomp/off` and `lagcomp/on`.
fn lag_compensation(c: &mut Criterion) {
    let rate = common::config(LAGCOMP_PLAYERS).tick_rate;
    let rules = skirmish::sim::Rules::for_tick_rate(rate);
    let mut off = common::Sim::with_rules(LAGCOMP_PLAYERS, skirmish::sim::Rules { max_rewind_ticks: 0, ..rules });
    let mut on = common::Sim::with_rules(LAGCOMP_PLAYERS, rules);
    on.rewind = LAGCOMP_REWIND;
    for sim in [&mut off, &mut on] {
        sim.advance(common::warm_up_ticks(LAGCOMP_PLAYERS));
    }
    eprintln!(
        "lagcomp set-up, {LAGCOMP_PLAYERS} players: {} and {} bullets in flight; the trail holds {} KiB",
        off.world.bullet_count(),
        on.world.bullet_count(),
        on.world.trail_bytes() / 1024
    );
    let mut group = c.benchmark_group("lagcomp");
    group.throughput(Throughput::Elements(LAGCOMP_PLAYERS as u64)).warm_up_time(Duration::from_secs(1));
    group.nresamples(10_000).sample_size(30).measurement_time(Duration::from_secs(3));
    for (name, sim) in [("off", &mut off), ("on", &mut on)] {
        group
            .bench_function(BenchmarkId::new(name, LAGCOMP_PLAYERS), |b| b.iter_custom(|iters| sim.timed_steps(iters)));
    }
    group.finish();
}

criterion_group!(benches, lag_compensation);
criterion_main!(benches);
