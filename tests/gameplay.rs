//! End to end over real WebSockets: joining, moving, seeing each other, shooting, dying and respawning.

mod common;

use common::*;
use skirmish::client::{GameClient, ServerEvent};
use skirmish::config::ServerConfig;
use skirmish::protocol::{player_field as pf, Event};
use skirmish::sim::radians_to_aim;
use skirmish::snapshot::Entity;

fn duel_config() -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    config.room.map = duel_map();
    config.room.record_snapshots = 512;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_joins_moves_and_the_server_agrees() {
    let server = start(duel_config()).await;
    let mut client = connect(&server, "mover").await;
    assert_eq!(client.welcome.tick_rate, 30);
    assert_eq!(client.welcome.map.name, "duel");
    next_snapshot(&mut client).await;
    let me = *client.me().expect("own player in the first snapshot");
    assert_eq!(client.name_of(me.id), Some("mover"));
    let start_x = me.fields[pf::X];
    // Move towards the far side of the map, whichever spawn we got.
    let direction: i8 = if start_x < 320 * 16 { 127 } else { -127 };
    let mut tick = 0;
    for _ in 0..30 {
        client.send_input(direction, 0, 0, false).await.unwrap();
        tick = next_snapshot(&mut client).await;
    }
    let me = *client.me().unwrap();
    let moved = (me.fields[pf::X] - start_x) * i32::from(direction.signum());
    assert!(moved > 50 * 16, "moved only {} units", moved / 16);
    assert_ne!(me.fields[pf::VX], 0, "still moving");
    let server_view = server_snapshot(&server, tick).expect("server kept that tick");
    let on_server = server_view.entity(me.id).expect("server has the player");
    assert_eq!(Entity::from(on_server), me, "client and server agree on tick {tick}");
    client.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_each_other() {
    let server = start(duel_config()).await;
    let mut ay = connect(&server, "ay").await;
    let mut bee = connect(&server, "bee").await;
    let (ay_id, bee_id) = (ay.player_id(), bee.player_id());
    assert_ne!(ay_id, bee_id);
    for (client, other, name) in [(&mut ay, bee_id, "bee"), (&mut bee, ay_id, "ay")] {
        within("see the other player", async {
            loop {
                next_snapshot(client).await;
                client.send_input(0, 0, 0, false).await.unwrap();
                let (_, entities) = client.world().unwrap();
                if entity(entities, other).is_some() {
                    assert_eq!(client.name_of(other), Some(name));
                    break;
                }
            }
        })
        .await;
    }
    ay.close().await;
    bee.close().await;
    server.shutdown().await;
}

fn aim_at(from: &Entity, to: &Entity) -> u16 {
    let dx = (to.fields[pf::X] - from.fields[pf::X]) as f32;
    let dy = (to.fields[pf::Y] - from.fields[pf::Y]) as f32;
    radians_to_aim(dy.atan2(dx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shooting_kills_scores_and_the_victim_respawns() {
    let server = start(duel_config()).await;
    let mut shooter = connect(&server, "shooter").await;
    let mut target = connect(&server, "target").await;
    let (shooter_id, target_id) = (shooter.player_id(), target.player_id());
    let spawns: Vec<[i32; 2]> = shooter.welcome.map.spawns.clone();
    let respawn_ticks = shooter.welcome.rules.respawn_ticks;

    // Phase 1: the shooter fires at the idle target until a kill event arrives.
    let mut kill_tick = 0;
    let mut kills_seen = 0;
    within("a kill", async {
        while kill_tick == 0 {
            for event in pump(&mut shooter).await {
                if let Event::Kill { tick, killer, victim } = event {
                    assert_eq!((killer, victim), (shooter_id, target_id));
                    kill_tick = tick;
                    kills_seen += 1;
                }
            }
            pump(&mut target).await;
            let (_, entities) = shooter.world().unwrap();
            let aim = match (entity(entities, shooter_id), entity(entities, target_id)) {
                (Some(me), Some(them)) => aim_at(me, them),
                _ => 0,
            };
            shooter.send_input(0, 0, aim, true).await.unwrap();
            target.send_input(0, 0, 0, false).await.unwrap();
        }
    })
    .await;
    let (_, entities) = shooter.world().unwrap();
    assert_eq!(entity(entities, shooter_id).unwrap().fields[pf::SCORE], 1, "a kill scores one point");
    let victim = entity(entities, target_id).unwrap();
    assert_eq!(victim.fields[pf::HP], 0);
    assert!(victim.fields[pf::RESPAWN] > 0, "the victim waits to respawn");

    // Phase 2: nobody fires; the victim comes back at a spawn point with full health after the delay.
    let respawned_tick = within("respawn", async {
        loop {
            let tick = next_snapshot(&mut target).await;
            target.send_input(0, 0, 0, false).await.unwrap();
            pump(&mut shooter).await;
            shooter.send_input(0, 0, 0, false).await.unwrap();
            let me = target.me().unwrap();
            if me.fields[pf::HP] > 0 {
                assert_eq!(me.fields[pf::HP], 100);
                assert_eq!(me.fields[pf::RESPAWN], 0);
                let at = [me.fields[pf::X] / 16, me.fields[pf::Y] / 16];
                assert!(spawns.contains(&at), "respawned at {at:?}, not a spawn point");
                return tick;
            }
        }
    })
    .await;
    let waited = respawned_tick - kill_tick;
    assert!(
        waited >= respawn_ticks && waited <= respawn_ticks + 2,
        "respawned {waited} ticks after the kill, the rule is {respawn_ticks}"
    );
    assert_eq!(kills_seen, 1, "the kill event is delivered once");
    shooter.close().await;
    target.close().await;
    server.shutdown().await;
}

/// Applies one snapshot and returns the events it brought.
async fn pump(client: &mut GameClient) -> Vec<Event> {
    within("snapshot", async {
        loop {
            match client.next_event().await.expect("server message") {
                ServerEvent::Snapshot { new_events, .. } => return new_events,
                ServerEvent::Desync(error) => panic!("desync: {error}"),
                ServerEvent::Pong { .. } | ServerEvent::Roster { .. } | ServerEvent::Chat { .. } => {}
            }
        }
    })
    .await
}
