//! Interest management end to end (`--view-radius`), over real sockets: every client rebuilds exactly the part of
//! the server's world it is sent, which holds everything within its view radius and nothing beyond the farthest a
//! view of cells reaches (PROTOCOL.md 10), tick after tick, while players move through each other's views and
//! bullets fly in and out of them.

mod common;

use std::sync::Arc;

use common::*;
use skirmish::client::GameClient;
use skirmish::config::ServerConfig;
use skirmish::protocol::{bullet_field, player_field, EntityKind, EntityState};
use skirmish::server::RunningServer;

const PLAYERS: usize = 12;
const RADIUS: f32 = 300.0;
/// The farthest a view reaches (PROTOCOL.md 10): the radius, twice the sticky margin (a quarter cell) and two cell
/// diagonals, the cells being a third of the radius.
const REACH: f64 = RADIUS as f64 + 2.0 * (RADIUS as f64 / 12.0) + 2.0 * std::f64::consts::SQRT_2 * RADIUS as f64 / 3.0;
const TICKS_TO_CHECK: u32 = 150;

/// Where `entity` is at `tick`, in world units, worked out in f64 from the protocol's fields (positions in 1/16
/// units; a bullet flies from its origin at its velocity since its spawn tick): independent of the server's grid.
fn position(entity: &EntityState, tick: u32, dt: f64) -> (f64, f64) {
    let field = |i: usize| f64::from(entity.fields[i]) / 16.0;
    match entity.kind {
        EntityKind::Player => (field(player_field::X), field(player_field::Y)),
        EntityKind::Bullet => {
            let age = f64::from(tick.saturating_sub(entity.fields[bullet_field::SPAWN_TICK] as u32)) * dt;
            (
                field(bullet_field::X) + field(bullet_field::VX) * age,
                field(bullet_field::Y) + field(bullet_field::VY) * age,
            )
        }
    }
}

/// What one client's views amounted to.
#[derive(Default)]
struct Checked {
    ticks: u32,
    /// Server entities out of view at a checked tick (so views really were partial).
    hidden: usize,
    /// Entities that were in view at one checked tick and out of it at the next, while still in the world.
    left_view: usize,
}

/// Plays (moving, firing) and checks each rebuilt view against the server's own snapshot of that tick.
async fn play_and_check(server: &RunningServer, mut client: GameClient, seed: u32, dt: f64) -> Checked {
    let own = client.player_id();
    let mut checked = Checked::default();
    let mut previous: Vec<u32> = Vec::new();
    let mut first = 0;
    loop {
        let tick = next_snapshot(&mut client).await;
        first = if first == 0 { tick } else { first };
        if tick >= first + TICKS_TO_CHECK {
            break;
        }
        let (at, mine) = client.replica.latest_states().expect("a rebuilt world");
        assert_eq!(at, tick);
        let world = server_snapshot(server, tick).expect("the tap holds recent ticks");
        let me = world.entity(own).expect("own player in the world");
        let center = position(me, tick, dt);
        for entity in &mine {
            assert_eq!(world.entity(entity.id), Some(entity), "client {own} tick {tick}: entity {} differs", entity.id);
        }
        for entity in &world.entities {
            let (x, y) = position(entity, tick, dt);
            let distance = ((x - center.0).powi(2) + (y - center.1).powi(2)).sqrt();
            let held = mine.iter().any(|e| e.id == entity.id);
            // A unit either side of the radius is left to rounding.
            if entity.id == own || distance < f64::from(RADIUS) - 1.0 {
                assert!(held, "client {own} tick {tick}: entity {} at {distance:.1} is missing", entity.id);
            } else if distance > REACH + 1.0 {
                assert!(!held, "client {own} tick {tick}: entity {} at {distance:.1} was sent", entity.id);
                checked.hidden += 1;
            }
        }
        let ids: Vec<u32> = mine.iter().map(|e| e.id).collect();
        checked.left_view += previous.iter().filter(|id| !ids.contains(id) && world.entity(**id).is_some()).count();
        previous = ids;
        checked.ticks += 1;
        // Sweep across the arena and back, on a course of its own, firing now and then.
        let phase = (tick / 45 + seed) % 4;
        let (move_x, move_y) = [(127, 40), (-40, 127), (-127, -40), (40, -127)][phase as usize];
        client.send_input(move_x, move_y, (tick * 1500 + seed * 9000) as u16, tick % 5 == 0).await.unwrap();
    }
    assert_eq!(client.stats.desyncs, 0);
    client.close().await;
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_rebuilds_exactly_its_view_of_the_world() {
    let mut config = ServerConfig::for_tests();
    config.room.view_radius = RADIUS;
    config.room.record_snapshots = 512;
    let dt = 1.0 / f64::from(config.room.tick_rate);
    let server = Arc::new(start(config).await);
    let mut clients = Vec::new();
    for i in 0..PLAYERS {
        clients.push(connect(&server, &format!("p{i}")).await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let server = server.clone();
            tokio::spawn(async move { play_and_check(&server, client, i as u32, dt).await })
        })
        .collect();
    let (mut hidden, mut left_view) = (0, 0);
    for task in tasks {
        let checked = within("client checks its views", task).await.expect("no view differed");
        assert!(checked.ticks >= TICKS_TO_CHECK - 5, "checked {} ticks", checked.ticks);
        hidden += checked.hidden;
        left_view += checked.left_view;
    }
    assert!(hidden > PLAYERS * TICKS_TO_CHECK as usize, "views were partial ({hidden} entities out of view)");
    assert!(left_view > 20, "entities left views while still in the world ({left_view})");
    eprintln!("interest: {hidden} entity-ticks out of view, {left_view} departures from a view");
    let Ok(server) = Arc::try_unwrap(server) else { panic!("a task still holds the server") };
    server.shutdown().await;
}
