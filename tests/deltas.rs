//! Delta correctness over real sockets: a client that gets every frame and a client whose frames are lost before
//! they arrive both rebuild exactly the server's world. (Frames the server itself drops for a full outbox are
//! covered in-process by the room's tests, where the outbox can be made to overflow deterministically.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use skirmish::client::GameClient;
use skirmish::config::ServerConfig;
use skirmish::protocol::{EntityKind, ServerMessage};

/// A small deterministic generator for the players' random inputs and the lost frames.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: u32) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % u64::from(bound)) as u32
    }
}

const PLAYERS: usize = 16;
const TICKS_TO_CHECK: u32 = 300;

#[derive(Clone, Copy, PartialEq)]
enum Loss {
    /// Applies every frame.
    None,
    /// Throws away a share of frames before applying them, as if lost, sometimes in long runs.
    Dropped,
}

struct Outcome {
    compared: u32,
    bullets_seen: usize,
    deltas: u64,
    fulls: u64,
}

async fn observe(server: &skirmish::server::RunningServer, name: &str, loss: Loss, seed: u64) -> Outcome {
    let mut client = connect(server, name).await;
    let mut rng = Lcg(seed);
    let mut outcome = Outcome { compared: 0, bullets_seen: 0, deltas: 0, fulls: 0 };
    let mut first_tick = 0;
    let mut last_tick = 0;
    while last_tick < first_tick + TICKS_TO_CHECK || first_tick == 0 {
        let message = within("snapshot", client.next_message()).await.expect("server message");
        let ServerMessage::Snapshot(snapshot) = message else { continue };
        last_tick = snapshot.tick;
        if first_tick == 0 {
            first_tick = snapshot.tick;
        }
        let lose = match loss {
            Loss::None => false,
            // A third of the frames at random, and every frame of one 100-tick stretch in three: longer than the
            // server's 64-tick history, so those stretches end with a full snapshot.
            Loss::Dropped => rng.next(100) < 35 || (snapshot.tick / 100) % 3 == 1,
        };
        if lose {
            continue;
        }
        client.apply(&snapshot);
        assert_eq!(client.stats.desyncs, 0, "{name}: desync at tick {}", snapshot.tick);
        let (tick, entities) = client.replica.latest_states().unwrap();
        let server_view = server_snapshot(server, tick).expect("tap holds recent ticks");
        assert_eq!(entities, server_view.entities, "{name}: world differs at tick {tick}");
        outcome.compared += 1;
        outcome.bullets_seen =
            outcome.bullets_seen.max(entities.iter().filter(|e| e.kind == EntityKind::Bullet).count());
        client.send_input(0, 0, 0, false).await.unwrap();
    }
    outcome.deltas = client.stats.deltas;
    outcome.fulls = client.stats.full_snapshots;
    client.close().await;
    outcome
}

/// A player that moves and fires at random, acknowledging what it applies.
async fn play(mut client: GameClient, seed: u64, stop: Arc<AtomicBool>) {
    let mut rng = Lcg(seed);
    let (mut move_x, mut move_y, mut aim) = (0i8, 0i8, 0u16);
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), client.next_event()).await else { break };
        if rng.next(10) == 0 {
            move_x = (rng.next(255) as i32 - 127) as i8;
            move_y = (rng.next(255) as i32 - 127) as i8;
            aim = rng.next(65536) as u16;
        }
        if client.send_input(move_x, move_y, aim, rng.next(3) != 0).await.is_err() {
            break;
        }
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_rebuilds_the_server_world_exactly() {
    let mut config = ServerConfig::for_tests();
    config.room.tick_rate = 60;
    config.room.record_snapshots = 1024;
    let server = start(config).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut players = Vec::new();
    for i in 0..PLAYERS {
        let client = connect(&server, &format!("p{i}")).await;
        players.push(tokio::spawn(play(client, 100 + i as u64, stop.clone())));
    }
    let (every, lossy) =
        tokio::join!(observe(&server, "every-frame", Loss::None, 1), observe(&server, "lossy", Loss::Dropped, 2));
    stop.store(true, Ordering::Relaxed);
    for player in players {
        within("player task ends", player).await.unwrap();
    }

    assert!(every.compared >= TICKS_TO_CHECK, "every-frame compared {} ticks", every.compared);
    assert!(every.bullets_seen > 0, "bullets were flying");
    // One full snapshot, then deltas only; a second full one is legitimate when the first acknowledgement misses
    // the next tick (at 60 Hz a tick is 17 ms), since until then the server has no baseline.
    assert!((1..=2).contains(&every.fulls), "{} full snapshots for a client that lost nothing", every.fulls);
    assert!(lossy.compared >= TICKS_TO_CHECK / 3, "lossy compared {} ticks", lossy.compared);
    assert!(lossy.deltas > lossy.fulls, "lossy mostly got deltas ({} deltas, {} full)", lossy.deltas, lossy.fulls);
    assert!(lossy.fulls > 1, "long losses outlived the history and forced full snapshots");
    server.shutdown().await;
}
