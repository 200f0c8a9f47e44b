//! MessagePack encode and decode of snapshot frames from a busy world of 100 bot-driven players.
//!
//! Two frames, built as the room builds them (`encode_snapshot_header`, then the body a `DeltaWriter` writes and
//! the events, then hits and `own`): a full snapshot (what a new or lagging client gets) and a typical delta
//! (against the state of 2 ticks before, a client with about 50 ms of round trip). Decoding is the client side
//! (`codec::decode_server`), applying is the client's `Replica` (prediction and residuals). Their sizes, per frame
//! and per entity, are printed once; the throughput (`Bytes`) gives MB/s.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use skirmish::codec;
use skirmish::protocol::{Event, ServerMessage};
use skirmish::snapshot::{DeltaWriter, Replica, View, WorldSnapshot};

use common::Sim;

const PLAYERS: usize = 100;
/// The typical delta's baseline, in ticks before the current one.
const DELTA_AGO: usize = 2;

/// A whole snapshot frame: the per-client header, the shared body, no hits, `own` [0, 0].
fn encode_frame(
    buf: &mut Vec<u8>,
    writer: &mut DeltaWriter,
    base: Option<&WorldSnapshot>,
    current: &WorldSnapshot,
    events: &[&Event],
    tick_rate: u32,
) {
    buf.clear();
    codec::encode_snapshot_header(buf, current.tick, base.map_or(0, |base| base.tick), 1);
    writer.begin_tick(current);
    writer.write(buf, base.map(View::all), View::all(current), tick_rate);
    codec::append(buf, events);
    buf.extend([0x90, 0x92, 0x00, 0x00]);
}

fn codec(c: &mut Criterion) {
    let mut sim = Sim::new(PLAYERS);
    sim.advance(common::warm_up_ticks(PLAYERS));
    let tick_rate = common::config(PLAYERS).tick_rate;
    let (current, base) = (sim.latest(), sim.ago(DELTA_AGO));
    let tick = current.tick;
    let full_events: Vec<_> = sim.events.between(tick - 1, tick).collect();
    let delta_events: Vec<_> = sim.events.between(base.tick, tick).collect();
    let mut writer = DeltaWriter::default();

    let mut encoded = Vec::new();
    for (name, baseline, events) in [("full", None, &full_events), ("delta", Some(base), &delta_events)] {
        let mut frame = Vec::new();
        encode_frame(&mut frame, &mut writer, baseline, current, events, tick_rate);
        let Ok(ServerMessage::Snapshot(decoded)) = codec::decode_server(&frame) else {
            panic!("{name}: not a snapshot")
        };
        eprintln!(
            "codec, {PLAYERS} players, {} entities in the world: {name} frame {} B ({} created, changed {} B, {} \
             removed, {} events): {:.2} B per entity in the world",
            current.entities.len(),
            frame.len(),
            decoded.created.len(),
            decoded.changed.len(),
            decoded.removed.len(),
            events.len(),
            frame.len() as f64 / current.entities.len().max(1) as f64,
        );
        encoded.push((name, baseline, events, frame));
    }
    // The client's side: the full frame applied, then the delta against it (the baseline is the full one's tick).
    let mut base_frame = Vec::new();
    encode_frame(&mut base_frame, &mut writer, None, base, &[], tick_rate);
    let decode = |bytes: &[u8]| match codec::decode_server(bytes) {
        Ok(ServerMessage::Snapshot(snapshot)) => snapshot,
        other => panic!("not a snapshot: {other:?}"),
    };
    let (base_snapshot, delta_snapshot) = (decode(&base_frame), decode(&encoded[1].3));

    let mut group = c.benchmark_group("codec");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .nresamples(10_000);
    let mut buf = Vec::new();
    for (name, baseline, events, frame) in &encoded {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| {
                encode_frame(&mut buf, &mut writer, *baseline, current, events, tick_rate);
                black_box(buf.len());
            })
        });
        group.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| black_box(codec::decode_server(black_box(frame)).is_ok()))
        });
    }
    group.throughput(Throughput::Elements(current.entities.len() as u64));
    group.bench_function(BenchmarkId::new("apply", "delta"), |b| {
        b.iter_batched_ref(
            || {
                let mut replica = Replica::new(tick_rate);
                replica.apply(&base_snapshot).expect("the full snapshot applies");
                replica
            },
            |replica| black_box(replica.apply(&delta_snapshot).is_ok()),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
