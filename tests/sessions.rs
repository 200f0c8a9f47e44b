//! Sessions that outlive a socket, over real loopback WebSockets: a dropped player keeps its seat for the grace and a
//! resume gets the same player back, continuing from the tick the client held; bad, spent and late tokens are
//! refused without touching the seat they name; and room chat with its limits.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::raw::*;
use common::*;
use skirmish::client::{open, ClientError, GameClient};
use skirmish::codec::{self, close_code};
use skirmish::config::ServerConfig;
use skirmish::protocol::{
    player_field, ClientMessage, Join, ServerMessage, SessionInfo, Snapshot, FLAG_DISCONNECTED, PROTOCOL_VERSION,
};
use skirmish::server::RunningServer;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

fn config_with_grace(grace: Duration) -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    config.room.resume_grace = grace;
    config
}

fn session_of(client: &GameClient) -> SessionInfo {
    client.welcome.session.clone().expect("a player's welcome carries a session")
}

/// Opens a new socket and asks for the seat `token` names, holding snapshots up to `last_tick`.
async fn resume(server: &RunningServer, token: &str, last_tick: u32) -> Result<GameClient, ClientError> {
    let join = Join::Resume { token: token.to_string(), last_tick };
    let ws = within("open", open(&url(server))).await?;
    within("resume", GameClient::join(ws, "", PROTOCOL_VERSION, Some(join))).await
}

fn refused(outcome: Result<GameClient, ClientError>) -> (u16, String) {
    match outcome {
        Err(ClientError::Closed { code, reason }) => (code, reason),
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(client) => panic!("a resume was accepted for player {}", client.player_id()),
    }
}

const REFUSED: &str = "resume refused: unknown, expired or already used token";

/// The next snapshot as sent (not applied: a fresh client holds no baseline to apply a delta to).
async fn next_raw_snapshot(client: &mut GameClient) -> Snapshot {
    within("snapshot", async {
        loop {
            if let ServerMessage::Snapshot(snapshot) = client.next_message().await.expect("server message") {
                return snapshot;
            }
        }
    })
    .await
}

/// Plays `client` moving right for `ticks` snapshots, acknowledging each; returns the newest tick it holds and the
/// last input seq it sent.
async fn play_moving(client: &mut GameClient, ticks: u32) -> (u32, u32) {
    let (mut newest, mut seq) = (0, 0);
    for _ in 0..ticks {
        seq = client.send_input(127, 0, 0, false).await.expect("input");
        newest = next_snapshot(client).await;
        client.send_ack().await.expect("ack");
    }
    (newest, seq)
}

/// Whether `observer` currently sees player `id` flagged as disconnected.
fn flagged(observer: &GameClient, id: u32) -> Option<bool> {
    let (_, entities) = observer.world()?;
    let player = entity(entities, id)?;
    Some(player.fields[player_field::FLAGS] & FLAG_DISCONNECTED != 0)
}

/// Reads `observer`'s snapshots until `condition` holds on its replica.
async fn watch_until(observer: &mut GameClient, what: &str, condition: impl Fn(&GameClient) -> bool) {
    within(what, async {
        while !condition(observer) {
            next_snapshot(observer).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_within_the_grace_gets_the_same_player_back_with_a_delta_against_the_held_tick() {
    let server = start(config_with_grace(Duration::from_secs(20))).await;
    let mut ana = connect(&server, "ana").await;
    let mut bo = connect(&server, "bo").await;
    let id = ana.player_id();
    let first = session_of(&ana);
    assert_eq!(first.grace_ms, 20_000);
    assert!(first.resume_token.starts_with(&format!("{}.", the_room(&server).id)));
    let (held, last_seq) = play_moving(&mut ana, 20).await;
    let before = *ana.me().expect("ana sees herself");

    // The Wi-Fi blinks: the socket ends without a close frame.
    drop(ana);
    until("seat held", || room_stats(&server).detached.load(Ordering::Relaxed) == 1).await;
    watch_until(&mut bo, "bo sees ana disconnected", |bo| flagged(bo, id) == Some(true)).await;
    assert_eq!(players(&server), 2, "the seat still counts");

    let mut back = resume(&server, &first.resume_token, held).await.expect("resume accepted");
    assert_eq!(back.player_id(), id, "the same player");
    let second = session_of(&back);
    assert_ne!(second.resume_token, first.resume_token, "a resume hands out a new token");
    assert!(second.input_seq >= last_seq, "input_seq {} covers what was sent ({last_seq})", second.input_seq);
    let snapshot = next_raw_snapshot(&mut back).await;
    assert_eq!(snapshot.baseline, held, "the first snapshot is a delta against the tick the client held");
    assert!(snapshot.created.iter().all(|e| e.id != id), "its own player is not created again");
    // Same score, hp and name; it stood still while away, so it is about where it was.
    watch_until(&mut bo, "bo sees ana back", |bo| flagged(bo, id) == Some(false)).await;
    let (_, entities) = bo.world().expect("bo's world");
    let now = entity(entities, id).expect("ana is still in the world");
    assert_eq!(now.fields[player_field::SCORE], before.fields[player_field::SCORE]);
    assert_eq!(now.fields[player_field::HP], before.fields[player_field::HP]);
    let moved = (now.fields[player_field::X] - before.fields[player_field::X]).abs();
    assert!(moved < 16 * 80, "ana slid {moved}/16 units while away: she should have stood still");
    assert_eq!(bo.name_of(id), Some("ana"));
    assert_eq!(room_stats(&server).resumes.load(Ordering::Relaxed), 1);

    // Inputs go on from the sequence the server had: an input at or below it is out of order.
    back.send(&ClientMessage::Input(skirmish::protocol::Input { seq: second.input_seq, ..Default::default() }))
        .await
        .unwrap();
    let (code, reason) = close_of(&mut back).await;
    assert_eq!(code, close_code::POLICY_VIOLATION, "{reason}");
    assert!(reason.starts_with("input sequence must increase"), "{reason}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_holding_a_tick_the_server_no_longer_has_gets_a_full_snapshot() {
    let server = start(config_with_grace(Duration::from_secs(20))).await;
    let mut ana = connect(&server, "ana").await;
    let (held, _) = play_moving(&mut ana, 5).await;
    let token = session_of(&ana).resume_token;
    drop(ana);
    // More than the 64 ticks of history pass while away.
    let stats = room_stats(&server);
    until("history moved on", || stats.tick.load(Ordering::Relaxed) > held + 70).await;
    let mut back = resume(&server, &token, held).await.expect("resume accepted");
    assert_eq!(next_raw_snapshot(&mut back).await.baseline, 0);
    // And a client holding nothing (it lost its state with the page) gets a full snapshot too.
    let token = session_of(&back).resume_token;
    drop(back);
    until("seat held", || stats.detached.load(Ordering::Relaxed) == 2).await;
    let mut again = resume(&server, &token, 0).await.expect("resume accepted");
    assert_eq!(next_raw_snapshot(&mut again).await.baseline, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_grace_the_seat_is_gone_with_a_leave_event() {
    let server = start(config_with_grace(Duration::from_millis(800))).await;
    let ana = connect(&server, "ana").await;
    let mut bo = connect(&server, "bo").await;
    let id = ana.player_id();
    let token = session_of(&ana).resume_token;
    watch_until(&mut bo, "bo sees ana", |bo| flagged(bo, id).is_some()).await;
    drop(ana);
    let dropped = Instant::now();
    watch_until(&mut bo, "ana leaves after the grace", |bo| flagged(bo, id).is_none()).await;
    assert!(dropped.elapsed() >= Duration::from_millis(700), "left after {:?}, before the grace", dropped.elapsed());
    assert_eq!(players(&server), 1);
    assert_eq!(room_stats(&server).resumes_expired.load(Ordering::Relaxed), 1);
    assert_eq!(refused(resume(&server, &token, 0).await), (close_code::RESUME_REFUSED, REFUSED.into()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_forged_tokens_leave_the_real_seat_and_its_timer_untouched() {
    let grace = Duration::from_millis(2000);
    let server = start(config_with_grace(grace)).await;
    let ana = connect(&server, "ana").await;
    let id = ana.player_id();
    let token = session_of(&ana).resume_token;
    let room = the_room(&server).id.clone();
    drop(ana);
    let stats = room_stats(&server);
    until("seat held", || stats.detached.load(Ordering::Relaxed) == 1).await;
    let dropped = Instant::now();
    // The same room with another secret, one character changed, a malformed one, another room's, and garbage.
    let mut one_off = token.clone().into_bytes();
    let last = one_off.len() - 1;
    one_off[last] = if one_off[last] == b'a' { b'b' } else { b'a' };
    let forgeries = [
        format!("{room}.{}", "a".repeat(32)),
        String::from_utf8(one_off).unwrap(),
        format!("{room}.short"),
        format!("zzzzzzzzzzzz.{}", &token[room.len() + 1..]),
        "not a token at all".to_string(),
        String::new(),
    ];
    for forged in &forgeries {
        let (code, reason) = refused(resume(&server, forged, 0).await);
        assert_eq!(code, close_code::RESUME_REFUSED, "{forged:?}: {reason}");
    }
    // The seat is still held, for as long as it was going to be.
    assert_eq!(stats.detached.load(Ordering::Relaxed), 1);
    let (_, health) = http_json(server.local_addr, "GET", "/healthz", "").await;
    assert_eq!(health["held_seats"], 1, "{health}");
    assert_eq!(health["resumes"], 0, "{health}");
    assert_eq!(health["disconnects"]["resume_refused"], forgeries.len() as u64, "{health}");
    assert_eq!(players(&server), 1);
    assert_eq!(stats.resumes.load(Ordering::Relaxed), 0);
    // The real token still works until the grace it was given, not a moment longer after the forgeries...
    tokio::time::sleep((grace / 2).saturating_sub(dropped.elapsed())).await;
    let back = resume(&server, &token, 0).await.expect("the real token still resumes");
    assert_eq!(back.player_id(), id);
    server.shutdown().await;

    // ...and forgeries do not extend it either: a seat hammered with bad tokens still expires on time.
    let server = start(config_with_grace(grace)).await;
    let ana = connect(&server, "ana").await;
    let room = the_room(&server).id.clone();
    drop(ana);
    let stats = room_stats(&server);
    until("seat held", || stats.detached.load(Ordering::Relaxed) == 1).await;
    let dropped = Instant::now();
    while dropped.elapsed() < grace - Duration::from_millis(300) {
        let forged = format!("{room}.{}", "b".repeat(32));
        assert_eq!(refused(resume(&server, &forged, 0).await).0, close_code::RESUME_REFUSED);
    }
    until("the seat expires", || players(&server) == 0).await;
    let late = dropped.elapsed();
    assert!(late < grace + Duration::from_millis(600), "the seat expired {late:?} after the drop (grace {grace:?})");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_resumes_once_and_a_resume_takes_the_seat_from_a_socket_still_open() {
    let server = start(config_with_grace(Duration::from_secs(20))).await;
    let ana = connect(&server, "ana").await;
    let first = session_of(&ana).resume_token;
    drop(ana);
    let stats = room_stats(&server);
    until("seat held", || stats.detached.load(Ordering::Relaxed) == 1).await;
    let mut back = resume(&server, &first, 0).await.expect("first resume");
    // The spent token is refused, and the seat stays with the connection that resumed it.
    assert_eq!(refused(resume(&server, &first, 0).await), (close_code::RESUME_REFUSED, REFUSED.into()));
    next_raw_snapshot(&mut back).await;
    next_raw_snapshot(&mut back).await;

    // The client noticed a dead link before the server did and resumed from a new socket: the old one is closed.
    let token = session_of(&back).resume_token;
    let mut newer = resume(&server, &token, 0).await.expect("resume over a live seat");
    assert_eq!(newer.player_id(), back.player_id());
    assert_eq!(
        close_of(&mut back).await,
        (close_code::SESSION_TAKEN_OVER, "session resumed on another connection".into())
    );
    next_raw_snapshot(&mut newer).await;
    assert_eq!(players(&server), 1);
    // The old connection's end does not touch the seat: it is still the newer one's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(players(&server), 1);
    next_raw_snapshot(&mut newer).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_close_leaves_at_once_unless_it_asks_to_keep_the_seat() {
    let server = start(config_with_grace(Duration::from_secs(20))).await;
    let ana = connect(&server, "ana").await;
    let stats = room_stats(&server);
    let token = session_of(&ana).resume_token;
    ana.close().await;
    until("ana left", || players(&server) == 0).await;
    assert_eq!(stats.detached.load(Ordering::Relaxed), 0);
    assert_eq!(refused(resume(&server, &token, 0).await).0, close_code::RESUME_REFUSED);

    // Close code 4100: "keep my seat".
    let mut stream = within("upgrade", raw_upgrade(&server, "")).await.0;
    let hello = codec::encode_client(&ClientMessage::hello("bo"));
    stream.write_all(&frame(OP_BINARY, &hello, true)).await.unwrap();
    let (_, welcome) = within("welcome", read_frame(&mut stream)).await.expect("welcome");
    let Ok(ServerMessage::Welcome(welcome)) = codec::decode_server(&welcome) else { panic!("not a welcome") };
    let token = welcome.session.expect("session").resume_token;
    stream.write_all(&frame(OP_CLOSE, &[0x10, 0x04], true)).await.unwrap();
    assert_eq!(expect_close(&mut stream).await, (1000, String::new()));
    until("seat held", || stats.detached.load(Ordering::Relaxed) == 1).await;
    let back = resume(&server, &token, 0).await.expect("resume after a keep-seat close");
    assert_eq!(back.player_id(), welcome.player_id);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectators_have_no_session_and_resuming_can_be_turned_off() {
    let server = start(config_with_grace(Duration::ZERO)).await;
    let ana = connect(&server, "ana").await;
    assert!(ana.welcome.session.is_none(), "no token when the grace is 0");
    drop(ana);
    until("ana left at once", || players(&server) == 0).await;
    server.shutdown().await;

    let server = start(ServerConfig::for_tests()).await;
    let _ana = connect(&server, "ana").await;
    let watcher =
        within("spectate", GameClient::connect_as(&url(&server), "eve", Join::Spectate { room: None })).await.unwrap();
    assert!(watcher.welcome.session.is_none());
    server.shutdown().await;
}

/// The next chat line `client` receives.
async fn next_chat(client: &mut GameClient) -> (u32, String, String) {
    within("chat", async {
        loop {
            if let ServerMessage::Chat { from, name, text, .. } = client.next_message().await.expect("message") {
                return (from, name, text);
            }
        }
    })
    .await
}

async fn chat(client: &mut GameClient, text: &str) {
    client.send(&ClientMessage::Chat { text: text.into() }).await.expect("chat sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reaches_everyone_in_the_room_and_its_limits_close_with_their_codes() {
    let server = start(ServerConfig::for_tests()).await;
    let mut ana = connect(&server, "ana").await;
    let mut bo = connect(&server, "bo").await;
    let mut eve =
        within("spectate", GameClient::connect_as(&url(&server), "eve", Join::Spectate { room: None })).await.unwrap();
    chat(&mut ana, "  gg, très bien 東京 👍  ").await;
    let line = (ana.player_id(), "ana".to_string(), "gg, très bien 東京 👍".to_string());
    assert_eq!(next_chat(&mut ana).await, line, "the sender gets its own line");
    assert_eq!(next_chat(&mut bo).await, line);
    assert_eq!(next_chat(&mut eve).await, line);
    chat(&mut eve, "spectating").await;
    let line = (0, "eve".to_string(), "spectating".to_string());
    assert_eq!(next_chat(&mut bo).await, line, "a spectator's id is 0");
    assert_eq!(next_chat(&mut ana).await, line);
    let longest = "é".repeat(120);
    chat(&mut bo, &longest).await;
    assert_eq!(next_chat(&mut ana).await.2, longest, "120 characters of 2 bytes is within the limits");
    assert_eq!(next_chat(&mut bo).await.2, longest);
    assert_eq!(room_stats(&server).chat_lines.load(Ordering::Relaxed), 3);

    let bad = [
        ("x".repeat(121), "invalid value: chat line over 120 characters (121)"),
        ("two\nlines".into(), "invalid value: chat line holds a control character"),
        ("tab\there".into(), "invalid value: chat line holds a control character"),
        ("   ".into(), "invalid value: chat line is empty"),
    ];
    for (text, reason) in bad {
        let mut client = connect(&server, "noisy").await;
        chat(&mut client, &text).await;
        assert_eq!(close_of(&mut client).await, (close_code::INVALID_PAYLOAD, reason.into()), "{text:?}");
    }
    // A burst of 3 passes; the 4th line at once is a flood.
    let mut flooder = connect(&server, "flooder").await;
    for i in 0..4 {
        chat(&mut flooder, &format!("line {i}")).await;
    }
    let (code, reason) = close_of(&mut flooder).await;
    assert_eq!(code, close_code::POLICY_VIOLATION);
    assert_eq!(reason, "chat flood: more than 3 lines at once or 1 per second");
    let got: Vec<String> = [next_chat(&mut bo).await.2, next_chat(&mut bo).await.2, next_chat(&mut bo).await.2].into();
    assert_eq!(got, ["line 0", "line 1", "line 2"]);
    server.shutdown().await;
}
