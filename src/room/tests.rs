//! The room in process: joins and leaves, inputs, frames, slow clients, deltas and interest, tick by tick.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

use glam::Vec2;
use tokio::sync::{oneshot, watch};

use super::*;
use crate::codec;
use crate::link::{ClientLink, CloseReason, DisconnectReason, OutboxReceiver, Outgoing};
use crate::protocol::{player_field, EntityKind, EntityState, Snapshot};
use crate::protocol::{Input, ServerMessage};
use crate::snapshot::Replica;

struct TestClient {
    key: ClientKey,
    outbox: OutboxReceiver,
    /// What the room asked the connection to close with, if it did.
    close: watch::Receiver<Option<CloseReason>>,
    replica: Replica,
    seq: u32,
}

fn player_id(room: &Room, key: ClientKey) -> u32 {
    match room.clients.get(key.slot).map(|client| &client.part) {
        Some(Part::Player(player)) => player.wire_id(),
        other => panic!("not a player: {other:?}"),
    }
}

fn join(room: &mut Room, name: &str, outbox_frames: usize) -> Result<TestClient, JoinRefused> {
    let (link, outbox, close) = ClientLink::new(outbox_frames);
    let (reply, mut answer) = oneshot::channel();
    room.handle(RoomCommand::Join {
        name: name.into(),
        role: Role::Player,
        link,
        resume: Some(ResumeSecret::generate()),
        reply,
    });
    let key = answer.try_recv().expect("the room answers a join at once")?;
    Ok(TestClient { key, outbox, close, replica: Replica::new(room.tick_rate), seq: 0 })
}

#[test]
fn a_client_whose_outbox_stays_full_for_the_slow_client_timeout_is_closed_at_that_tick() {
    let mut config = RoomConfig::for_tests();
    config.slow_client_timeout = Duration::from_secs(1);
    let stats = Arc::new(RoomStats::default());
    let mut room = Room::new(&config, stats.clone(), None);
    // Outbox of 2: the welcome and the first snapshot fill it, so every tick from the second on drops.
    let deaf = join(&mut room, "deaf", 2).unwrap();
    let mut reader = join(&mut room, "reader", 4).unwrap();
    let slow_ticks = config.tick_rate; // 1 s at the tick rate
    let mut closed_at = None;
    for tick in 1..=3 * slow_ticks {
        room.tick();
        drain(&mut reader);
        if closed_at.is_none() && deaf.close.borrow().is_some() {
            closed_at = Some(tick);
        }
    }
    // Full from tick 2 on: the close comes with the drop that makes `slow_ticks` full ticks in a row.
    assert_eq!(closed_at, Some(1 + slow_ticks));
    let reason = deaf.close.borrow().clone().unwrap();
    assert_eq!(reason.kind, DisconnectReason::SlowClient);
    assert_eq!((reason.code, reason.reason.as_str()), (1008, "client too slow: not reading for 1.0 s"));
    assert_eq!(stats.slow_clients_closed.load(Ordering::Relaxed), 1, "closed once, not once per tick");
    assert!(reader.close.borrow().is_none(), "the client that reads is left alone");
}

/// Decodes every queued frame, applies the snapshots, and returns the newest applied one.
fn drain(client: &mut TestClient) -> Option<Snapshot> {
    let mut newest = None;
    while let Some(bytes) = client.outbox.try_recv().ok().and_then(Outgoing::into_message) {
        if let ServerMessage::Snapshot(snapshot) = codec::decode_server(&bytes).expect("valid frame") {
            client.replica.apply(&snapshot).expect("applies without desync");
            newest = Some(snapshot);
        }
    }
    newest
}

fn send_input(room: &mut Room, client: &mut TestClient, move_x: i8, fire: bool) {
    client.seq += 1;
    let ack_tick = client.replica.latest().map_or(0, |(tick, _)| tick);
    let input =
        Input { seq: client.seq, move_x, move_y: 0, aim: 0, buttons: u8::from(fire), ack_tick, view_delay_ms: 0 };
    room.handle(RoomCommand::Input { client: client.key, input });
}

#[test]
fn a_client_with_a_full_outbox_misses_frames_and_still_converges() {
    let stats = Arc::new(RoomStats::default());
    let mut room = Room::new(&RoomConfig::for_tests(), stats.clone(), None);
    let mut players: Vec<TestClient> = (0..8).map(|i| join(&mut room, &format!("p{i}"), 64).unwrap()).collect();
    let mut slow = join(&mut room, "slow", 3).unwrap();
    let (mut compared, mut most_bullets) = (0, 0);
    for round in 0..400u32 {
        for (i, player) in players.iter_mut().enumerate() {
            let move_x = if (round / 20 + i as u32).is_multiple_of(2) { 127 } else { -127 };
            send_input(&mut room, player, move_x, round % 3 == 0);
        }
        let tick = room.tick();
        most_bullets = most_bullets.max(room.world().bullet_count());
        for player in players.iter_mut() {
            drain(player);
        }
        // The slow client reads only every 10 ticks, so its 3-frame outbox overflows in between.
        if round % 10 == 9 {
            if let Some(snapshot) = drain(&mut slow) {
                let server_view = room.history.get(snapshot.tick).expect("recent tick in history");
                assert_eq!(slow.replica.latest_states().unwrap().1, server_view.entities);
                compared += 1;
                assert!(snapshot.tick < tick, "the newest frames were the ones dropped");
            }
            send_input(&mut room, &mut slow, 0, false);
        }
    }
    assert!(compared >= 35, "compared {compared} times");
    assert!(stats.frames_dropped.load(Ordering::Relaxed) > 200, "frames were dropped");
    assert!(most_bullets > 0, "bullets were flying, so the frames the slow client missed carried them");
}

#[test]
fn joins_beyond_the_limit_are_refused_and_leaving_frees_the_slot() {
    let mut config = RoomConfig::for_tests();
    config.max_players = 2;
    let mut room = Room::new(&config, Arc::new(RoomStats::default()), None);
    let first = join(&mut room, "a", 4).unwrap();
    let _second = join(&mut room, "b", 4).unwrap();
    let full = JoinRefused::Full { room: "testroom2345".into(), limit: 2 };
    assert_eq!(join(&mut room, "c", 4).err(), Some(full));
    room.handle(RoomCommand::Leave { client: first.key });
    assert_eq!(room.client_count(), 1);
    assert_eq!(room.world().player_count(), 1);
    let third = join(&mut room, "c", 4).unwrap();
    // The old key does not reach the client that now holds its slot.
    assert_ne!(third.key, first.key);
    room.handle(RoomCommand::Leave { client: first.key });
    assert_eq!(room.client_count(), 2);
}

#[test]
fn one_input_per_tick_is_applied_and_reported() {
    let mut room = Room::new(&RoomConfig::for_tests(), Arc::new(RoomStats::default()), None);
    let mut client = join(&mut room, "a", 64).unwrap();
    let welcome = client.outbox.try_recv().unwrap();
    assert!(
        matches!(welcome.into_message(), Some(bytes) if matches!(codec::decode_server(&bytes), Ok(ServerMessage::Welcome(_))))
    );
    room.tick();
    let start = drain(&mut client).unwrap();
    assert_eq!(start.last_input_seq, 0);
    let x0 = client.replica.latest().unwrap().1[0].fields[player_field::X];
    send_input(&mut room, &mut client, 127, false);
    send_input(&mut room, &mut client, 127, false);
    room.tick();
    assert_eq!(drain(&mut client).unwrap().last_input_seq, 1, "one input per tick, in order");
    room.tick();
    assert_eq!(drain(&mut client).unwrap().last_input_seq, 2);
    let x2 = client.replica.latest().unwrap().1[0].fields[player_field::X];
    assert_ne!(x0, x2, "the inputs moved the player");
    // With no new input the last one repeats, and the reported sequence stays.
    room.tick();
    assert_eq!(drain(&mut client).unwrap().last_input_seq, 2);
}

/// Bytes of one client's frame, full and delta, with every player moving and firing; the figures the README
/// quotes come from this test (`cargo test --release --lib frame_sizes -- --nocapture`).
#[test]
fn frame_sizes_full_versus_delta() {
    for players in [10usize, 50] {
        let mut room = Room::new(&RoomConfig::for_tests(), Arc::new(RoomStats::default()), None);
        let mut clients: Vec<TestClient> =
            (0..players).map(|i| join(&mut room, &format!("player{i}"), 64).unwrap()).collect();
        let (mut full_bytes, mut full_count, mut delta_bytes, mut delta_count, mut entities) = (0, 0, 0, 0, 0);
        for round in 0..300u32 {
            for (i, client) in clients.iter_mut().enumerate() {
                let move_x = if (round / 25 + i as u32).is_multiple_of(2) { 127 } else { -127 };
                send_input(&mut room, client, move_x, (round + i as u32).is_multiple_of(2));
            }
            room.tick();
            for client in clients.iter_mut() {
                while let Some(bytes) = client.outbox.try_recv().ok().and_then(Outgoing::into_message) {
                    if let Ok(ServerMessage::Snapshot(snapshot)) = codec::decode_server(&bytes) {
                        client.replica.apply(&snapshot).unwrap();
                        if round < 100 {
                            continue; // let bullets fill the arena first
                        }
                        if snapshot.baseline == 0 {
                            full_bytes += bytes.len();
                            full_count += 1;
                        } else {
                            delta_bytes += bytes.len();
                            delta_count += 1;
                        }
                    }
                }
            }
            if round == 250 {
                // A late joiner measures a full snapshot of the busy world.
                clients.push(join(&mut room, "late", 64).unwrap());
                entities = room.world().player_count() + room.world().bullet_count();
            }
        }
        let full = full_bytes / full_count.max(1);
        let delta = delta_bytes / delta_count.max(1);
        println!(
            "{players} players: full snapshot {full} B ({entities} entities), mean delta {delta} B per client per tick"
        );
        assert_eq!(full_count, 1, "only the late joiner needed a full snapshot");
        assert!(full <= entities * 24 + 64, "full snapshot of {entities} entities took {full} B");
        assert!(delta * 3 < full, "a delta ({delta} B) is well under a full snapshot ({full} B)");
    }
}

/// A client whose acknowledgements arrive several ticks late must get out of full snapshots: after a full
/// snapshot, acknowledgements of older ticks are still in flight, and both sides keep using them.
#[test]
fn late_acknowledgements_still_leave_full_snapshots_behind() {
    let mut room = Room::new(&RoomConfig::for_tests(), Arc::new(RoomStats::default()), None);
    let mut client = join(&mut room, "far away", 256).unwrap();
    let _welcome = client.outbox.try_recv();
    const LAG: usize = 3;
    let mut applied: VecDeque<u32> = VecDeque::new();
    let (mut fulls, mut deltas) = (0, 0);
    // Rounds of the full snapshots, and the deltas after the silence.
    let (mut full_rounds, mut deltas_after_silence) = (Vec::new(), 0);
    for round in 0..200u32 {
        // The acknowledgement that reaches the server now is the one the client sent LAG ticks ago.
        if applied.len() > LAG {
            let tick = applied.pop_front().unwrap();
            room.handle(RoomCommand::Ack { client: client.key, tick });
        }
        // Silence for longer than the history once, so a full snapshot follows mid-stream.
        let silent = (60..140).contains(&round);
        room.tick();
        let snapshot = drain(&mut client).expect("a frame every tick");
        if snapshot.baseline == 0 {
            fulls += 1;
            full_rounds.push(round);
        } else {
            deltas += 1;
            deltas_after_silence += usize::from(round >= 140);
        }
        if !silent {
            applied.push_back(snapshot.tick);
        } else {
            applied.clear();
        }
    }
    assert!(deltas > 150, "deltas resume despite the lag ({fulls} full, {deltas} deltas)");
    assert!(fulls < 30, "{fulls} full snapshots");
    // The silence outlived the 64-tick history: its acknowledged baseline was forgotten, so a full snapshot
    // followed it (in the first round after the silence, when the stale ack no longer names a kept tick) ...
    let after_silence: Vec<_> = full_rounds.iter().filter(|&&round| round >= 140).collect();
    assert!(!after_silence.is_empty(), "no full snapshot after the silence (full at rounds {full_rounds:?})");
    assert!(full_rounds.iter().any(|&round| (60..140).contains(&round)), "the silence outlived the history");
    // ... and deltas took over again within a few ticks of the lag.
    assert!(deltas_after_silence >= 60 - 2 * LAG, "{deltas_after_silence} deltas in the 60 rounds after the silence");
}

#[test]
fn the_history_reaches_back_only_to_the_oldest_acknowledgement_in_use() {
    let mut room = Room::new(&RoomConfig::for_tests(), Arc::new(RoomStats::default()), None);
    let mut prompt = join(&mut room, "near", 256).unwrap();
    let mut lagging = join(&mut room, "far", 256).unwrap();
    const LAG: usize = 10;
    let mut in_flight: VecDeque<u32> = VecDeque::new();
    let mut lagging_deltas = 0;
    for round in 0..200u32 {
        let silent = round >= 120;
        if in_flight.len() > LAG {
            let tick = in_flight.pop_front().unwrap();
            if !silent {
                room.handle(RoomCommand::Ack { client: lagging.key, tick });
            }
        }
        let tick = room.tick();
        let near = drain(&mut prompt).expect("a frame every tick");
        room.handle(RoomCommand::Ack { client: prompt.key, tick: near.tick });
        let far = drain(&mut lagging).expect("a frame every tick");
        in_flight.push_back(far.tick);
        let oldest = room.history.oldest_tick().unwrap();
        if (30..120).contains(&round) {
            // The lagging client's acknowledgement sets the reach; its deltas are still encoded against it.
            lagging_deltas += usize::from(far.baseline != 0);
            assert!(far.baseline == 0 || far.baseline >= oldest, "baseline {} below the history", far.baseline);
            assert!(tick - oldest <= LAG as u32 + 2, "tick {tick} keeps history from {oldest}");
        }
        if round == 199 {
            // A client that stopped acknowledging keeps its last baseline for the whole 64-tick history.
            assert_eq!(tick - oldest + 1, HISTORY_TICKS as u32, "a silent client holds the full history");
        }
    }
    assert_eq!(lagging_deltas, 90, "every frame of the lagging client in rounds 30-119 was a delta");
}

/// The entities a client should see at `tick` with a view radius, computed independently of the room's grid: those
/// in the cells (a third of the radius wide) that come within the radius and the sticky margin (a quarter cell) of
/// the cell the room says it viewed from, which must be the player's own cell or, while it stays within the margin
/// of it, the one before. Also returns how many are within the radius itself, all of which must be among them.
fn expected_view(room: &Room, key: ClientKey, tick: u32, own_id: u32, radius: f32) -> (Vec<EntityState>, usize) {
    let snapshot = room.history.get(tick).expect("tick in history");
    let dt = room.world.rules().dt;
    let position = |e: &EntityState| match e.kind {
        EntityKind::Player => Vec2::new(e.fields[0] as f32, e.fields[1] as f32) / 16.0,
        EntityKind::Bullet => {
            let age = (tick - e.fields[5] as u32) as f32;
            Vec2::new(
                e.fields[0] as f32 + e.fields[2] as f32 * age * dt,
                e.fields[1] as f32 + e.fields[3] as f32 * age * dt,
            ) / 16.0
        }
    };
    let cell = radius / 3.0;
    let (columns, rows) =
        ((room.world.map().width as f32 / cell).ceil(), (room.world.map().height as f32 / cell).ceil());
    let cell_of = |at: Vec2| {
        ((at.x / cell).floor().clamp(0.0, columns - 1.0) as i32, (at.y / cell).floor().clamp(0.0, rows - 1.0) as i32)
    };
    let center = position(snapshot.entity(own_id).expect("own player"));
    let recorded = room.clients.get(key.slot).and_then(|client| client.views.at(tick)).expect("a view was recorded");
    let viewer = ((recorded % columns as u32) as i32, (recorded / columns as u32) as i32);
    let margin = cell / 4.0;
    let (left, top) = (viewer.0 as f32 * cell - margin, viewer.1 as f32 * cell - margin);
    let near = center.x >= left
        && center.x < left + cell + 2.0 * margin
        && center.y >= top
        && center.y < top + cell + 2.0 * margin;
    assert!(viewer == cell_of(center) || near, "viewed from {viewer:?}, standing at {center}");
    let in_view = |e: &EntityState| {
        let (column, row) = cell_of(position(e));
        let gap = |d: i32| (d.abs() - 1).max(0) as f32 * cell;
        gap(column - viewer.0).hypot(gap(row - viewer.1)) <= radius + margin
    };
    let within_radius = snapshot.entities.iter().filter(|e| position(e).distance(center) <= radius).count();
    (snapshot.entities.iter().filter(|e| in_view(e)).cloned().collect(), within_radius)
}

#[test]
fn with_a_view_radius_each_client_rebuilds_exactly_its_own_view() {
    const RADIUS: f32 = 450.0;
    let mut config = RoomConfig::for_tests();
    config.view_radius = RADIUS;
    let stats = Arc::new(RoomStats::default());
    let mut room = Room::new(&config, stats.clone(), None);
    let mut players: Vec<TestClient> = (0..24).map(|i| join(&mut room, &format!("p{i}"), 64).unwrap()).collect();
    let mut slow = join(&mut room, "slow", 3).unwrap();
    let slow_id = player_id(&room, slow.key);
    let (mut compared, mut partial_views, mut entered_and_left) = (0, 0, 0);
    for round in 0..300u32 {
        for (i, player) in players.iter_mut().enumerate() {
            let move_x = if (round / 30 + i as u32).is_multiple_of(2) { 127 } else { -127 };
            send_input(&mut room, player, move_x, round % 4 == 0);
        }
        let tick = room.tick();
        for (i, player) in players.iter_mut().enumerate() {
            if let Some(snapshot) = drain(player) {
                // Removed from the view while still in the world: it left the view (not a bullet that expired
                // or hit something).
                let world = room.history.get(snapshot.tick).expect("tick in history");
                entered_and_left += snapshot.removed.iter().filter(|&&id| world.entity(id).is_some()).count();
                let own_id = player_id(&room, player.key);
                let (expected, within_radius) = expected_view(&room, player.key, snapshot.tick, own_id, RADIUS);
                partial_views += usize::from(expected.len() < room.history.get(tick).unwrap().entities.len());
                assert!(expected.len() >= within_radius);
                assert_eq!(player.replica.latest_states().unwrap().1, expected, "player {i} at tick {tick}");
                compared += 1;
            }
        }
        if round % 10 == 9 {
            if let Some(snapshot) = drain(&mut slow) {
                let (expected, _) = expected_view(&room, slow.key, snapshot.tick, slow_id, RADIUS);
                assert_eq!(slow.replica.latest_states().unwrap().1, expected, "slow client at {}", snapshot.tick);
            }
            send_input(&mut room, &mut slow, 0, false);
        }
    }
    assert!(compared > 24 * 250, "compared {compared}");
    assert!(partial_views > compared / 2, "most views were partial ({partial_views} of {compared})");
    assert!(entered_and_left > 100, "entities left views and were removed ({entered_and_left})");
    assert!(stats.frames_dropped.load(Ordering::Relaxed) > 100, "the slow client missed frames");
}

/// The ticks the room's applied inputs waited, from its counters: [0, 1, 2, 3+].
fn waits(stats: &RoomStats) -> [u64; 4] {
    std::array::from_fn(|i| stats.input_wait_ticks[i].load(Ordering::Relaxed))
}

#[test]
fn a_backlog_of_two_after_a_late_input_drains_at_once_and_the_wait_returns_to_zero() {
    let stats = Arc::new(RoomStats::default());
    let mut room = Room::new(&RoomConfig::for_tests(), stats.clone(), None);
    let mut ana = join(&mut room, "ana", 64).unwrap();
    room.tick();
    // Steady: one input per tick, each applied at the first tick after it arrived.
    for _ in 0..5 {
        send_input(&mut room, &mut ana, 127, false);
        room.tick();
    }
    assert_eq!(waits(&stats), [5, 0, 0, 0]);
    // A browser timer fires late: a tick with no input (the world repeats the last one), then two at once.
    room.tick();
    assert_eq!(stats.inputs_repeated.load(Ordering::Relaxed), 1);
    send_input(&mut room, &mut ana, 127, false);
    send_input(&mut room, &mut ana, 127, true);
    room.tick();
    // The two cover the two ticks the world stepped: one is folded into the other (its fire kept), none waits.
    assert_eq!(stats.inputs_merged.load(Ordering::Relaxed), 1);
    assert_eq!(room.world().players().next().map(|p| p.input.fire), Some(true), "the fire button carried over");
    for _ in 0..5 {
        send_input(&mut room, &mut ana, 127, false);
        room.tick();
    }
    assert_eq!(waits(&stats), [11, 0, 0, 0], "every input applied at the first tick after it arrived");
}

#[test]
fn a_backlog_of_two_without_a_repeat_drains_after_the_patience() {
    let stats = Arc::new(RoomStats::default());
    let mut room = Room::new(&RoomConfig::for_tests(), stats.clone(), None);
    let mut ana = join(&mut room, "ana", 64).unwrap();
    room.tick();
    // A burst of two, then one per tick: without draining, one input would stay queued for good.
    send_input(&mut room, &mut ana, 127, false);
    for _ in 0..u32::from(BACKLOG_PATIENCE_TICKS) + 5 {
        send_input(&mut room, &mut ana, 127, false);
        room.tick();
    }
    assert_eq!(stats.inputs_merged.load(Ordering::Relaxed), 1);
    let [now, one_late, ..] = waits(&stats);
    assert!(one_late <= u64::from(BACKLOG_PATIENCE_TICKS), "{:?}", waits(&stats));
    // From then on, every input is applied at the first tick after it arrived.
    for _ in 0..5 {
        send_input(&mut room, &mut ana, 127, false);
        room.tick();
    }
    assert_eq!(waits(&stats)[0], now + 5, "{:?}", waits(&stats));
    assert_eq!(waits(&stats)[1], one_late);
}
