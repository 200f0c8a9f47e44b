//! MessagePack encode and decode of snapshot frames from a busy world of 100 bot-driven players.
//!
//! Two frames, built as the room builds them (`encode_snapshot_header` plus the body written with `codec::append`):
//! a full snapshot (what a new or lagging client gets) and a typical delta (against the state of 2 ticks before,
//! a client with about 50 ms of round trip). Decoding is the client side (`codec::decode_server`). Their sizes, per
//! frame and per entity, are printed once; the throughput (`Bytes`) gives MB/s.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use skirmish::codec;
use skirmish::protocol::{Event, ServerMessage};
use skirmish::snapshot::{self, Delta};

use common::Sim;

const PLAYERS: usize = 100;
/// The typical delta's baseline, in ticks before the current one.
const DELTA_AGO: usize = 2;

/// A whole snapshot frame: the per-client header, then the shared body.
fn encode_frame(buf: &mut Vec<u8>, tick: u32, baseline: u32, delta: &Delta<'_>, events: &[&Event]) {
    buf.clear();
    codec::encode_snapshot_header(buf, tick, baseline, 1);
    codec::append(buf, &delta.created);
    codec::append(buf, &delta.changed);
    codec::append(buf, &delta.removed);
    codec::append(buf, events);
}

fn codec(c: &mut Criterion) {
    let mut sim = Sim::new(PLAYERS);
    sim.advance(common::warm_up_ticks(PLAYERS));
    let (current, base) = (sim.latest(), sim.ago(DELTA_AGO));
    let tick = current.tick;
    let full = snapshot::full(current);
    let full_events: Vec<_> = sim.events.between(tick - 1, tick).collect();
    let delta = snapshot::diff(base, current);
    let delta_events: Vec<_> = sim.events.between(base.tick, tick).collect();

    let frames = [("full", 0, &full, &full_events), ("delta", base.tick, &delta, &delta_events)];
    let mut encoded = Vec::new();
    for (name, baseline, delta, events) in frames {
        let mut frame = Vec::new();
        encode_frame(&mut frame, tick, baseline, delta, events);
        let Ok(ServerMessage::Snapshot(decoded)) = codec::decode_server(&frame) else {
            panic!("{name}: not a snapshot")
        };
        assert_eq!((decoded.created.len(), decoded.changed.len()), (delta.created.len(), delta.changed.len()));
        let entities = delta.created.len() + delta.changed.len() + delta.removed.len();
        eprintln!(
            "codec, {PLAYERS} players, {} entities in the world: {name} frame {} B ({} created, {} changed, {} \
             removed, {} events): {:.1} B per entity in it",
            current.entities.len(),
            frame.len(),
            delta.created.len(),
            delta.changed.len(),
            delta.removed.len(),
            events.len(),
            frame.len() as f64 / entities.max(1) as f64,
        );
        encoded.push((name, baseline, delta, events, frame));
    }

    let mut group = c.benchmark_group("codec");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .nresamples(10_000);
    let mut buf = Vec::new();
    for (name, baseline, delta, events, frame) in &encoded {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| {
                encode_frame(&mut buf, tick, *baseline, delta, events);
                black_box(buf.len());
            })
        });
        group.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| black_box(codec::decode_server(black_box(frame)).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
