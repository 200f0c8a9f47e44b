//! The room's tick at 10, 100, 1,000 and 5,000 players, whole and by parts.
//!
//! Every world is a crowd of bots (the real `bot::Brain`) on a map grown with the player count so the density stays
//! that of the bundled arena, warmed up (see [`common::warm_up_ticks`]) so bullets are flying, kills and respawns
//! happen and clients hold acknowledged baselines. No sockets: clients are outboxes read between ticks.
//!
//! - `tick/full`: `Room::tick` — queued inputs applied, world stepped, snapshot captured, and for every client a
//!   delta against its acknowledged baseline encoded and framed into its outbox. Before each timed tick, outside
//!   the timer, the clients' outboxes are drained (the writers' job), the bots decide on the last tick's snapshot
//!   and their inputs are queued with `Room::handle`. Clients acknowledge with a lag of 0 to 3 ticks (as with 0 to
//!   100 ms of round trip), so the room encodes 4 distinct delta bodies a tick, as a real crowd would make it.
//! - The parts, on a copy of the same warmed-up world: `tick/step` (`World::step` after the inputs are set),
//!   `tick/snapshot` (`WorldSnapshot::capture` plus one delta body written by a `DeltaWriter` against the state of 2
//!   ticks before), `tick/encode` (that body and its events alone, once; the room does this once per distinct
//!   baseline, or with interest management once per view cell and baseline), and `tick/fanout` (one frame per client: header plus a copy of the shared body, as the room does
//!   for each client).
//! - `tick/interest`: `tick/full` with interest management on (`view_radius` [`VIEW_RADIUS`], as `loadbench` runs
//!   it): each client's frame holds only its neighbourhood, diffed against its own past view.
//! - `bots/decide`: every bot's decision on one snapshot (set-up cost, never part of a tick).
//! - Lag compensation's own cost is `benches/lagcomp.rs` (`tick/full` and `tick/interest` run with it on, as a
//!   server does by default, their bots acknowledging 0 to 3 ticks late: rewinds of 1 to 4 ticks).
//!
//! Times are per tick; the throughput (`Elements(players)`) gives the figure per player.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use skirmish::codec;
use skirmish::link::{ClientLink, OutboxReceiver, Outgoing, OwnBytes};
use skirmish::protocol::{Input, Role, ServerMessage, BUTTON_FIRE};
use skirmish::room::{ClientKey, Room, RoomCommand, RoomStats};
use skirmish::snapshot::{DeltaWriter, View, WorldSnapshot};
use tokio::sync::oneshot;

use common::{Bots, Sim};

const SIZES: [usize; 4] = [10, 100, 1_000, 5_000];
/// Frames a client's outbox holds; it is drained before every tick, so one would do.
const OUTBOX_FRAMES: usize = 4;
/// Acknowledgement lags, in ticks, spread over the clients.
const ACK_LAGS: u32 = 4;
/// The view radius of `tick/interest` (the browser's 1280 x 720 view reaches 734 units from its centre).
const VIEW_RADIUS: f32 = 750.0;
/// The baseline of the parts: the state a client that acknowledges with a 2-tick lag has.
const PART_BASELINE_AGO: usize = 2;

/// One connected client, played by a bot: the outbox its writer would drain, and what it sends.
struct Client {
    key: ClientKey,
    outbox: OutboxReceiver,
    seq: u32,
    /// Ticks between a frame's tick and the acknowledgement the room has of it.
    ack_lag: u32,
}

/// A room full of bot clients, without sockets.
struct RoomBench {
    room: Room,
    clients: Vec<Client>,
    /// Wire id of each client's player.
    players: Vec<u32>,
    bots: Bots,
    /// Frames and bytes the clients received at the last drain.
    frames: usize,
    bytes: usize,
}

impl RoomBench {
    /// A warmed-up room of `players` bot clients; `view_radius` 0: everyone sees everyone.
    fn new(players: usize, view_radius: f32) -> RoomBench {
        let mut config = common::config(players);
        config.view_radius = view_radius;
        let mut room = Room::new(&config, Arc::new(RoomStats::default()), None);
        let mut clients = Vec::with_capacity(players);
        let mut ids = Vec::with_capacity(players);
        for i in 0..players {
            let (link, mut outbox, _close) = ClientLink::new(OUTBOX_FRAMES);
            let (reply, mut answer) = oneshot::channel();
            let resume = Some(skirmish::room::ResumeSecret::generate());
            room.handle(RoomCommand::Join { name: format!("bot{i}"), role: Role::Player, link, resume, reply });
            let key = answer.try_recv().expect("the room answers a join at once").expect("the room has room");
            let Some(bytes) = outbox.try_recv().ok().and_then(Outgoing::into_message) else { panic!("no welcome") };
            let Ok(ServerMessage::Welcome(welcome)) = codec::decode_server(&bytes) else { panic!("not a welcome") };
            ids.push(welcome.player_id);
            clients.push(Client { key, outbox, seq: 0, ack_lag: i as u32 % ACK_LAGS });
        }
        let bots = Bots::new(&config.map, room.world().rules(), config.tick_rate, players);
        let mut bench = RoomBench { room, clients, players: ids, bots, frames: 0, bytes: 0 };
        for _ in 0..common::warm_up_ticks(players) {
            bench.prepare();
            bench.room.tick();
        }
        bench.drain();
        bench
    }

    /// The clients read their frames (the writers' job, so never timed).
    fn drain(&mut self) {
        (self.frames, self.bytes) = (0, 0);
        for client in &mut self.clients {
            while let Ok(outgoing) = client.outbox.try_recv() {
                if !matches!(outgoing, Outgoing::Pong(_)) {
                    self.frames += 1;
                    self.bytes += outgoing.len();
                }
            }
        }
    }

    /// Everything between two ticks: the clients read, the bots decide on the newest state and send their inputs.
    fn prepare(&mut self) {
        self.drain();
        let snapshot = WorldSnapshot::capture(self.room.world());
        let decisions = self.bots.decide(&snapshot, &self.players);
        for (client, decision) in self.clients.iter_mut().zip(decisions) {
            client.seq += 1;
            let input = Input {
                seq: client.seq,
                move_x: decision.move_x,
                move_y: decision.move_y,
                aim: decision.aim,
                buttons: if decision.fire { BUTTON_FIRE } else { 0 },
                ack_tick: snapshot.tick.saturating_sub(client.ack_lag),
                view_delay_ms: 0,
            };
            self.room.handle(RoomCommand::Input { client: client.key, input });
        }
    }
}

/// One size's benches: the room, one with interest management, and a bare copy of the first one's world for the
/// parts.
struct Size {
    players: usize,
    room: RoomBench,
    interest: RoomBench,
    sim: Sim,
}

impl Size {
    fn new(players: usize) -> Size {
        let started = Instant::now();
        let room = RoomBench::new(players, 0.0);
        let interest = RoomBench::new(players, VIEW_RADIUS);
        let mut sim = Sim::from_world(room.room.world().clone(), common::config(players).tick_rate);
        // Fill the baselines of the parts.
        sim.advance(8);
        let world = room.room.world();
        let (entities, bullets) = (sim.latest().entities.len(), world.bullet_count());
        let map = world.map();
        eprintln!(
            "tick set-up, {players} players: map {}x{} with {} walls, {bullets} bullets in flight ({entities} \
             entities); mean frame {} B, {} B with interest management; both rooms warmed up in {:.1} s",
            map.width,
            map.height,
            map.walls.len(),
            room.bytes / room.frames.max(1),
            interest.bytes / interest.frames.max(1),
            started.elapsed().as_secs_f64(),
        );
        Size { players, room, interest, sim }
    }

    /// Big worlds take long per iteration: few flat samples keep the run short. Fewer bootstrap resamples than
    /// criterion's 100,000 save seconds of analysis and plotting per benchmark on a small machine.
    fn configure(&self, group: &mut BenchmarkGroup<'_, WallTime>) {
        group.throughput(Throughput::Elements(self.players as u64)).warm_up_time(Duration::from_secs(1));
        group.nresamples(10_000);
        if self.players >= 1_000 {
            group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(3));
        } else {
            group.sample_size(40).sampling_mode(SamplingMode::Auto).measurement_time(Duration::from_secs(2));
        }
    }
}

/// Times `Room::tick` alone; the clients read and the bots decide between ticks.
fn bench_room(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, players: usize, room: &mut RoomBench) {
    group.bench_function(BenchmarkId::new(name, players), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                room.prepare();
                let start = Instant::now();
                black_box(room.room.tick());
                timed += start.elapsed();
            }
            timed
        })
    });
    room.drain();
    // Nothing was sent when a filter on the command line skipped this benchmark.
    if room.frames > 0 {
        eprintln!(
            "tick/{name}/{players}: the last tick sent {} frames, {} B on average",
            room.frames,
            room.bytes / room.frames
        );
    }
}

fn tick(c: &mut Criterion) {
    let mut sizes: Vec<Size> = SIZES.iter().map(|&players| Size::new(players)).collect();

    let mut group = c.benchmark_group("tick");
    for size in &mut sizes {
        size.configure(&mut group);
        let players = size.players;

        bench_room(&mut group, "full", players, &mut size.room);
        bench_room(&mut group, "interest", players, &mut size.interest);

        let sim = &mut size.sim;
        group.bench_function(BenchmarkId::new("step", players), |b| b.iter_custom(|iters| sim.timed_steps(iters)));

        let rate = common::config(players).tick_rate;
        let mut writer = DeltaWriter::default();
        let mut scratch = Vec::new();
        group.bench_function(BenchmarkId::new("snapshot", players), |b| {
            let (world, base) = (&sim.world, sim.ago(PART_BASELINE_AGO));
            b.iter(|| {
                let current = WorldSnapshot::capture(world);
                writer.begin_tick(&current);
                scratch.clear();
                writer.write(&mut scratch, Some(View::all(base)), View::all(&current), rate);
                black_box(scratch.len());
            })
        });

        let (current, base) = (sim.latest(), sim.ago(PART_BASELINE_AGO));
        let events: Vec<_> = sim.events.between(base.tick, current.tick).collect();
        let mut encode_body = |body: &mut Vec<u8>| {
            body.clear();
            writer.begin_tick(current);
            writer.write(body, Some(View::all(base)), View::all(current), rate);
            codec::append(body, &events);
        };
        let mut body = Vec::new();
        encode_body(&mut body);
        group.bench_function(BenchmarkId::new("encode", players), |b| {
            b.iter(|| {
                // As the room writes a body into a buffer (reused here from iteration to iteration).
                encode_body(&mut scratch);
                black_box(scratch.len());
            })
        });
        eprintln!(
            "tick/encode/{players}: delta of {} entities against {} ticks before: body {} B, {:.2} B per entity",
            current.entities.len(),
            PART_BASELINE_AGO,
            body.len(),
            body.len() as f64 / current.entities.len() as f64
        );

        // As the room fans a shared body out: a small head of each client's own and a reference to the body.
        let shared = Bytes::from(body);
        let mut frames: Vec<Outgoing> = Vec::with_capacity(players);
        group.bench_function(BenchmarkId::new("fanout", players), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    // The frames go to the writers, which free them: not part of the tick.
                    frames.clear();
                    let start = Instant::now();
                    let mut own = Vec::with_capacity(24);
                    for seq in 0..players as u32 {
                        own.clear();
                        codec::encode_snapshot_header(&mut own, current.tick, base.tick, seq);
                        let body_at = own.len();
                        own.extend([0x90, 0x92, 0x00, 0x00]); // no hits, own [0, 0]
                        let own = OwnBytes::from(&own[..]);
                        frames.push(Outgoing::Split { own, body_at, body: shared.clone() });
                    }
                    timed += start.elapsed();
                }
                black_box(&frames);
                timed
            })
        });
        frames.clear();
    }
    group.finish();

    let mut group = c.benchmark_group("bots");
    for size in &mut sizes {
        size.configure(&mut group);
        let sim = &mut size.sim;
        group.bench_function(BenchmarkId::new("decide", size.players), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    sim.decide();
                    timed += start.elapsed();
                    sim.apply();
                    sim.step();
                    sim.record();
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
