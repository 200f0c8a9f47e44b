//! The bundled browser client in real headless Chromium against an in-process server: it joins, moves where the
//! server says it is, sees other players, and draws a non-blank canvas; its lobby lists the public rooms live,
//! quick-plays, creates rooms, joins one by link and explains a refused join; a spectator follows and switches
//! players, flies a free camera that steers the server's interest area, lists and follows players out of its view
//! from the server's roster, and never sends an input.
//!
//! Chromium is driven over the DevTools protocol (`cdp`). A missing browser fails these tests with instructions
//! (`scripts/test` installs it); they are never skipped silently. The tests take turns (one browser at a time, two
//! cores), and each one is bounded by `TEST_TIMEOUT` once it has its turn.

mod cdp;
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cdp::pages::*;
use cdp::{Browser, Page};
use common::*;
use serde_json::{json, Value};
use skirmish::client::{GameClient, ServerEvent};
use skirmish::protocol::{player_field as pf, EntityKind, EntityState, Join, RoomOptions};
use skirmish::server::RunningServer;
use skirmish::sim::Map;
use skirmish::snapshot::WorldSnapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// A long empty floor with one spawn near its left end: a second of running right never reaches a wall, so the
/// player comes to rest by friction alone.
fn runway_map() -> Map {
    Map::parse(
        r#"{"name": "runway", "width": 1600, "height": 320, "walls": [], "spawns": [[160, 160]]}"#,
        "runway test map",
    )
    .expect("valid test map")
}

/// Player `id`'s position in one of the server's own snapshots, world units.
fn server_position(snapshot: &WorldSnapshot, id: u32) -> Option<(f64, f64)> {
    let e = snapshot.entity(id)?;
    Some((f64::from(e.fields[pf::X]) / 16.0, f64::from(e.fields[pf::Y]) / 16.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_joins_and_moves_where_the_server_says() {
    let server = start(config(Some(runway_map()))).await;
    with_browser("join and move", |browser| join_and_move(browser, &server)).await;
    server.shutdown().await;
}

async fn join_and_move(mut browser: Browser, server: &RunningServer) -> Browser {
    let (page, joined) = joined_page(&mut browser, server, "walker").await;
    let id = joined["playerId"].as_u64().unwrap() as u32;
    browser.bring_to_front(&page).await.unwrap();
    let before = wait_until_still(&mut browser, &page).await;
    let (x0, y0) = position(&before).unwrap();
    if predicted(&before) != Some((x0, y0)) {
        fail(&browser, &page, &format!("at rest before moving, the prediction is not the server's state: {before}"));
    }
    let seq0 = counter(&browser, &page, &before, "inputSeq");

    // Hold "d" (move right) for a second.
    browser.key(&page, true, "d", "KeyD", 68).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    browser.key(&page, false, "d", "KeyD", 68).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = wait_until_still(&mut browser, &page).await;
    let (x1, y1) = position(&after).unwrap();
    if x1 - x0 <= 40.0 {
        fail(&browser, &page, &format!("moved only {:.1} units right: from {before} to {after}", x1 - x0));
    }
    assert!((y1 - y0).abs() < 1.0, "moved vertically from {y0} to {y1}");
    eprintln!("moved from ({x0}, {y0}) to ({x1}, {y1})");
    // Inputs kept going out (one per tick) and the server applied them.
    let (seq1, acked) =
        (counter(&browser, &page, &after, "inputSeq"), counter(&browser, &page, &after, "lastInputSeq"));
    assert!(seq1 >= seq0 + 20 && acked > seq0 && acked <= seq1, "inputs sent {seq0}..{seq1}, acknowledged {acked}");

    // The predictor ran the server's movement rules on an open runway: no reconciliation corrected it, except
    // where the server did not apply the inputs one per tick. When a browser timer fires late the room repeats
    // the last input for a tick (or, after a burst, skips the oldest), and a client predicting one step per input
    // is then off by a step: seen under CPU load in about 1 run in 12. A backlog of two that lasts half a second is
    // folded into one input (the room then drops a step the client predicted). Each such tick can explain one
    // correction; with none, none is allowed.
    let corrections = counter(&browser, &page, &after, "corrections");
    let explained = room_stats(server).inputs_repeated.load(std::sync::atomic::Ordering::Relaxed)
        + room_stats(server).inputs_skipped.load(std::sync::atomic::Ordering::Relaxed)
        + room_stats(server).inputs_merged.load(std::sync::atomic::Ordering::Relaxed);
    if corrections > explained {
        let largest = &after["maxCorrection"];
        fail(
            &browser,
            &page,
            &format!(
                "{corrections} prediction corrections (largest {largest} units) on an open runway, with {explained} \
                 inputs repeated, skipped or merged by the room: {after}"
            ),
        );
    }
    // The page's snapshot store holds exactly the server's state of the tick it last applied...
    let tick = after["tick"].as_u64().unwrap() as u32;
    let snapshot = server_snapshot(server, tick).expect("the server recorded the page's tick");
    let server_xy = server_position(&snapshot, id).expect("the server has the page's player");
    assert_eq!(server_xy, (x1, y1), "tick {tick}: page's store at ({x1}, {y1}), server at {server_xy:?}");
    // ...and at rest the predicted position is exactly where the server has the player now.
    let newest = the_room(server).snapshots.as_ref().unwrap().lock().unwrap().back().cloned().unwrap();
    let now = server_position(&newest, id).expect("player still on the server");
    let final_state = page_state(&mut browser, &page).await;
    match predicted(&final_state) {
        Some(p) if p == now => {}
        other => fail(
            &browser,
            &page,
            &format!(
                "at rest the page predicts {other:?}, the server's tick {} has {now:?}: {final_state}",
                newest.tick
            ),
        ),
    }
    assert_eq!(counter(&browser, &page, &final_state, "corrections"), corrections, "no correction at rest");
    assert_eq!(final_state["desyncs"], 0, "{final_state}");
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_see_each_other() {
    let server = start(config(Some(duel_map()))).await;
    with_browser("two pages", |browser| see_each_other(browser, &server)).await;
    server.shutdown().await;
}

async fn see_each_other(mut browser: Browser, server: &RunningServer) -> Browser {
    let (alice, _) = joined_page(&mut browser, server, "alice").await;
    let (bob, _) = joined_page(&mut browser, server, "bob").await;
    for (page, other) in [(&alice, "bob"), (&bob, "alice")] {
        let state = wait_for_state(&mut browser, page, "2 players", Duration::from_secs(5), |s| {
            s["players"] == 2 && s["remotePlayers"].as_array().is_some_and(|r| r.iter().any(|p| p["name"] == other))
        })
        .await;
        assert_eq!(state["desyncs"], 0, "{state}");
        // The other player is drawn where the server has it (both stand still, so interpolation lands on it).
        let remote = state["remotePlayers"].as_array().unwrap();
        assert_eq!(remote.len(), 1, "one other player: {state}");
        let other_id = remote[0]["id"].as_u64().unwrap_or_else(|| panic!("remote player without an id: {state}"));
        let drawn = xy(&remote[0]).unwrap_or_else(|| panic!("remote player without a position: {state}"));
        let newest = the_room(server).snapshots.as_ref().unwrap().lock().unwrap().back().cloned().unwrap();
        let at = server_position(&newest, other_id as u32).expect("the other player is on the server");
        assert_eq!(drawn, at, "{other} drawn at {drawn:?}, on the server at {at:?}: {state}");
    }
    browser
}

/// target/screenshots, next to the tests' temporary directory.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("CARGO_TARGET_TMPDIR is inside target/").join("screenshots")
}

/// Reads the canvas back in the page: its size, how many distinct colours it has and how many pixels differ from
/// the most common colour (the background).
const CANVAS_PIXELS: &str = r#"(() => {
  const canvas = document.querySelector('canvas');
  if (canvas === null || canvas.width === 0 || canvas.height === 0) return null;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = new Map();
  for (let i = 0; i < data.length; i += 4) {
    const rgba = ((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]) >>> 0;
    counts.set(rgba, (counts.get(rgba) || 0) + 1);
  }
  let background = 0;
  for (const n of counts.values()) if (n > background) background = n;
  const pixels = data.length / 4;
  return { width: canvas.width, height: canvas.height, distinct: counts.size, nonBackground: pixels - background };
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshot_shows_a_drawn_arena() {
    let server = start(config(None)).await;
    with_browser("screenshot", |browser| screenshot(browser, &server)).await;
    server.shutdown().await;
}

async fn screenshot(mut browser: Browser, server: &RunningServer) -> Browser {
    let (page, _) = joined_page(&mut browser, server, "painter").await;
    // Give the frame loop time to draw the arena and the player.
    // A drawn arena has many colours (floor, grid, walls, player, text, antialiasing) and much besides background.
    let drawn = |p: &Value| p["distinct"].as_u64() > Some(8) && p["nonBackground"].as_u64() > Some(1000);
    let deadline = Instant::now() + Duration::from_secs(5);
    let pixels = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pixels = browser.evaluate(&page, CANVAS_PIXELS).await.unwrap_or_else(|e| fail(&browser, &page, &e.0));
        if drawn(&pixels) || Instant::now() > deadline {
            break pixels;
        }
    };
    assert_eq!(pixels["width"], VIEWPORT.0, "canvas fills the viewport: {pixels}");
    assert_eq!(pixels["height"], VIEWPORT.1, "canvas fills the viewport: {pixels}");
    if !drawn(&pixels) {
        fail(&browser, &page, &format!("the canvas looks blank: {pixels}"));
    }

    let png = browser.screenshot_png(&page).await.unwrap_or_else(|e| fail(&browser, &page, &e.0));
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("client.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes); canvas {pixels}", path.display(), png.len());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 8 * 1024, "a {} byte screenshot is too small to show an arena", png.len());
    browser
}

// ---------------------------------------------------------------------------------------------------------------
// Rooms: helpers

/// One HTTP/1.1 request to the server with a JSON body (or none), read to the end (`Connection: close`); returns
/// the status and the JSON body.
async fn http(server: &RunningServer, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(server.local_addr).await.expect("connect for HTTP");
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            server.local_addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("send the HTTP request");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read the HTTP response");
        response
    };
    let response = within(&format!("{method} {path}"), exchange).await;
    let text = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{method} {path}: no body in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("status: {head}"));
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {body}"));
    (status, json)
}

/// A client of the test's own in a room, kept reading on a task: a player sends an input per snapshot, moving as
/// `moves` says (x, y in -127..127); a spectator sends a bare ack. `finish` closes it.
struct Background {
    id: u32,
    room: String,
    moves: watch::Sender<(i8, i8)>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    async fn connect(server: &RunningServer, name: &str, join: Join) -> Background {
        let spectating = matches!(join, Join::Spectate { .. });
        let mut client = within("connect", GameClient::connect_as(&url(server), name, join))
            .await
            .unwrap_or_else(|e| panic!("{name} connects: {e}"));
        let (id, room) = (client.player_id(), client.welcome.room.id.clone());
        let (moves, moving) = watch::channel((0, 0));
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(async move {
            while !*stopping.borrow() {
                match client.next_event().await {
                    Ok(ServerEvent::Snapshot { .. }) if spectating => client.send_ack().await.map(drop),
                    Ok(ServerEvent::Snapshot { .. }) => {
                        let (x, y) = *moving.borrow();
                        client.send_input(x, y, 0, false).await.map(drop)
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                }
                .unwrap_or_else(|e| panic!("a background client lost its connection: {e}"));
            }
            client.close().await;
        });
        Background { id, room, moves, stop, task }
    }

    fn go(&self, x: i8, y: i8) {
        self.moves.send_replace((x, y));
    }

    async fn finish(self) {
        self.stop.send_replace(true);
        within("background client ends", self.task).await.expect("the background client ran without panicking");
    }
}

/// The lobby's room table as shown: each row's room id, its four cells (name, map, players, spectators) and
/// whether its Join and Spectate buttons are enabled.
const LOBBY_ROWS: &str = r#"[...document.querySelectorAll('#room-rows tr')].map((tr) => ({
  id: tr.dataset.roomId,
  cells: [...tr.querySelectorAll('td')].slice(0, 4).map((td) => td.textContent),
  join: !tr.querySelector('button.join').disabled,
  spectate: !tr.querySelector('button.spectate').disabled,
  shown: tr.getClientRects().length > 0,
}))"#;

async fn lobby_rows(browser: &mut Browser, page: &Page) -> Value {
    browser.evaluate(page, LOBBY_ROWS).await.unwrap_or_else(|e| fail(browser, page, &e.0))
}

/// Polls the lobby's table until `done` holds for it; returns the rows.
async fn wait_for_rows(browser: &mut Browser, page: &Page, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let rows = lobby_rows(browser, page).await;
        let rows = rows.as_array().cloned().unwrap_or_default();
        if done(&rows) {
            return rows;
        }
        if Instant::now() > deadline {
            fail(browser, page, &format!("timed out waiting for the lobby to show {what}; rows: {rows:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn row<'r>(rows: &'r [Value], id: &str) -> Option<&'r Value> {
    rows.iter().find(|r| r["id"] == id)
}

/// The room `id` of the server.
fn room_of(server: &RunningServer, id: &str) -> std::sync::Arc<skirmish::lobby::RoomEntry> {
    server.lobby.find(id).unwrap_or_else(|e| panic!("the server has room {id}: {e}"))
}

/// The newest snapshot the server recorded of room `id`.
fn newest_snapshot(server: &RunningServer, id: &str) -> std::sync::Arc<WorldSnapshot> {
    let room = room_of(server, id);
    let tap = room.snapshots.as_ref().expect("record_snapshots enabled").lock().unwrap();
    tap.back().cloned().expect("the room recorded a tick")
}

/// Player `player`'s position at `tick` in room `id`, from the server's own recorded snapshots.
fn position_at(server: &RunningServer, id: &str, tick: u32, player: u32) -> Option<(f64, f64)> {
    let room = room_of(server, id);
    let tap = room.snapshots.as_ref().expect("record_snapshots enabled").lock().unwrap();
    server_position(tap.iter().find(|s| s.tick == tick)?, player)
}

/// Where the page drew player `id` in its newest frame.
fn drawn(state: &Value, id: u32) -> Option<(f64, f64)> {
    xy(state["remotePlayers"].as_array()?.iter().find(|p| p["id"] == id)?)
}

/// `/healthz`'s count of connections closed for `reason` (0 when it lists none).
async fn disconnects(server: &RunningServer, reason: &str) -> u64 {
    let (status, health) = http(server, "GET", "/healthz", None).await;
    assert_eq!(status, 200, "{health}");
    assert!(health["disconnects"].is_object(), "/healthz has disconnects by reason: {health}");
    health["disconnects"][reason].as_u64().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------------------------
// Rooms: the lobby

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_lists_the_public_rooms_live() {
    let server = start(config(None)).await;
    with_browser("lobby list", |browser| lobby_list(browser, &server)).await;
    server.shutdown().await;
}

async fn lobby_list(mut browser: Browser, server: &RunningServer) -> Browser {
    let (status, public) =
        http(server, "POST", "/rooms", Some(&json!({ "name": "public room", "max_players": 8 }))).await;
    assert_eq!(status, 201, "{public}");
    let (status, secret) =
        http(server, "POST", "/rooms", Some(&json!({ "name": "secret room", "private": true }))).await;
    assert_eq!(status, 201, "{secret}");
    let (public_id, secret_id) = (public["id"].as_str().unwrap().to_string(), secret["id"].as_str().unwrap());

    // Without ?name the page opens on the lobby, which lists the public room and only it.
    let page = open_page(&mut browser, server, "/").await;
    let rows = wait_for_rows(&mut browser, &page, "the public room", |rows| row(rows, &public_id).is_some()).await;
    let listed = row(&rows, &public_id).unwrap();
    assert_eq!(listed["cells"], json!(["public room", "arena", "0/8", "0"]), "{rows:?}");
    assert_eq!((listed["join"].as_bool(), listed["spectate"].as_bool()), (Some(true), Some(true)), "{listed}");
    assert_eq!(listed["shown"], true, "the row is displayed: {listed}");
    assert!(row(&rows, secret_id).is_none(), "the private room is not listed: {rows:?}");
    assert!(rows.iter().all(|r| r["cells"][0] != "secret room"), "{rows:?}");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let state = page_state(&mut browser, &page).await;
    assert_eq!((state["state"].as_str(), state["lobby"]["visible"].as_bool()), (Some("lobby"), Some(true)), "{state}");
    assert_eq!(state["room"], Value::Null, "{state}");
    let refreshes = counter(&browser, &page, &state["lobby"], "refreshes");

    // A player and a spectator arrive: the next refresh (every 2 s) shows them, without a reload.
    let player = Background::connect(server, "visitor", Join::Room { id: public_id.clone() }).await;
    let watcher = Background::connect(server, "watcher", Join::Spectate { room: Some(public_id.clone()) }).await;
    assert_eq!((player.room.as_str(), watcher.room.as_str()), (public_id.as_str(), public_id.as_str()));
    let rows = wait_for_rows(&mut browser, &page, "1/8 players and 1 spectator", |rows| {
        row(rows, &public_id).is_some_and(|r| r["cells"] == json!(["public room", "arena", "1/8", "1"]))
    })
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let state = page_state(&mut browser, &page).await;
    let later = counter(&browser, &page, &state["lobby"], "refreshes");
    assert!(later > refreshes, "the list was fetched again ({refreshes} then {later})");
    assert_eq!(state["lobby"]["rooms"][0]["maxPlayers"], 8, "{state}");
    assert_eq!(state["state"], "lobby", "listing rooms joins none: {state}");
    player.finish().await;
    watcher.finish().await;
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_quick_plays_creates_and_joins_by_link() {
    let server = start(config(None)).await;
    with_browser("lobby play", |browser| lobby_play(browser, &server)).await;
    server.shutdown().await;
}

async fn lobby_play(mut browser: Browser, server: &RunningServer) -> Browser {
    // Quick play from the lobby, on a server with no room yet: the page reaches the game in a new room.
    let first = open_page(&mut browser, server, "/").await;
    wait_for_state(&mut browser, &first, "the lobby", Duration::from_secs(10), |s| s["lobby"]["visible"] == true).await;
    type_into(&mut browser, &first, "#name", "quick").await;
    click(&mut browser, &first, "#quick-play").await;
    let joined = wait_for_state(&mut browser, &first, "quick play to join", Duration::from_secs(10), |s| {
        s["state"] == "joined" && position(s).is_some() && s["room"]["role"] == "player"
    })
    .await;
    let room_id = joined["room"]["id"].as_str().unwrap().to_string();
    let quick_room = the_room(server);
    assert_eq!(quick_room.id, room_id, "{joined}");
    assert_eq!(joined["room"]["name"], quick_room.name.as_str(), "{joined}");
    assert_eq!(quick_room.players(), 1, "the server has the page's player in the room");
    let id = joined["playerId"].as_u64().unwrap() as u32;
    until("the page's player in the server's room", || {
        server_position(&newest_snapshot(server, &room_id), id).is_some()
    })
    .await;
    assert_eq!(joined["lobby"]["visible"], false, "{joined}");
    let remembered = browser.evaluate(&first, "localStorage.getItem('skirmish.name')").await.unwrap();
    assert_eq!(remembered, "quick", "the typed name is remembered");
    let search = browser.evaluate(&first, "location.search").await.unwrap();
    assert_eq!(search, format!("?room={room_id}"), "the address names the room, for a reload or a link");

    // Create a room from the form: its creator lands in it, with the options asked for.
    let second = open_page(&mut browser, server, "/").await;
    wait_for_state(&mut browser, &second, "the lobby", Duration::from_secs(10), |s| s["lobby"]["visible"] == true)
        .await;
    let name = browser.evaluate(&second, "document.getElementById('name').value").await.unwrap();
    assert_eq!(name, "quick", "the lobby offers the remembered name");
    type_into(&mut browser, &second, "#name", "maker").await;
    type_into(&mut browser, &second, "#create-name", "friday night").await;
    // The map list comes from GET /maps.
    let maps_loaded = "[...document.querySelectorAll('#create-map option')].map((o) => o.value)";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let options = browser.evaluate(&second, maps_loaded).await.unwrap();
        if options == json!(["", "arena", "duel", "*custom"]) {
            break;
        }
        if Instant::now() > deadline {
            fail(&browser, &second, &format!("the map choices never came from GET /maps: {options}"));
        }
        tokio::time::sleep(POLL).await;
    }
    let choose = "(() => { const s = document.getElementById('create-map'); s.value = 'duel'; \
                  s.dispatchEvent(new Event('change')); return s.value; })()";
    assert_eq!(browser.evaluate(&second, choose).await.unwrap(), "duel");
    type_into(&mut browser, &second, "#create-max", "4").await;
    click(&mut browser, &second, "#create-button").await;
    let created = wait_for_state(&mut browser, &second, "the created room", Duration::from_secs(10), |s| {
        s["state"] == "joined" && s["room"]["name"] == "friday night" && position(s).is_some()
    })
    .await;
    let created_id = created["room"]["id"].as_str().unwrap().to_string();
    assert_ne!(created_id, room_id, "a new room: {created}");
    let room = room_of(server, &created_id);
    assert_eq!((room.name.as_str(), room.map.as_str(), room.max_players), ("friday night", "duel", 4));
    assert_eq!((room.players(), room.private), (1, false));
    assert_eq!(server.lobby.len(), 2);

    // A link to the room joins it directly, with the remembered name.
    let third = open_page(&mut browser, server, &format!("/?room={created_id}")).await;
    let linked = wait_for_state(&mut browser, &third, "the link to join", Duration::from_secs(10), |s| {
        s["state"] == "joined" && position(s).is_some()
    })
    .await;
    assert_eq!(linked["room"], json!({ "id": created_id, "name": "friday night", "role": "player" }), "{linked}");
    assert_eq!(room.players(), 2, "both pages play in the created room");
    // Esc leaves for the lobby: the server lets the player go.
    browser.bring_to_front(&third).await.unwrap();
    tap_key(&mut browser, &third, KEY_ESCAPE, TAP).await;
    wait_for_state(&mut browser, &third, "the lobby again", Duration::from_secs(5), |s| {
        s["state"] == "lobby" && s["lobby"]["visible"] == true
    })
    .await;
    until("the player who left to be gone", || room.players() == 1).await;
    let search = browser.evaluate(&third, "location.search").await.unwrap();
    assert_eq!(search, "", "back in the lobby, the address names no room");

    // A refused join says why in the disconnected panel, which leads back to the lobby.
    let fourth = open_page(&mut browser, server, "/?name=lost&room=nosuchroom23").await;
    let refused =
        wait_for_state(&mut browser, &fourth, "the refusal", Duration::from_secs(10), |s| s["state"] == "closed").await;
    assert_eq!(refused["closeCode"], 4001, "{refused}");
    assert_eq!(refused["closeReason"], "no room with id nosuchroom23", "{refused}");
    let panel = "[document.getElementById('closed').hidden, document.getElementById('closed-meaning').textContent]";
    let shown = browser.evaluate(&fourth, panel).await.unwrap();
    assert_eq!(shown, json!([false, "That room does not exist (it may have closed when it emptied)."]));
    click(&mut browser, &fourth, "#back-to-lobby").await;
    let back = wait_for_state(&mut browser, &fourth, "the lobby after a refusal", Duration::from_secs(5), |s| {
        s["state"] == "lobby"
            && s["lobby"]["visible"] == true
            && s["lobby"]["rooms"].as_array().is_some_and(|r| r.len() == 2)
    })
    .await;
    let closed_hidden = browser.evaluate(&fourth, "document.getElementById('closed').hidden").await.unwrap();
    assert_eq!(closed_hidden, true, "{back}");
    assert_eq!(server.lobby.len(), 2, "a refused join opens no room");
    browser
}

// ---------------------------------------------------------------------------------------------------------------
// Rooms: spectators

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spectator_follows_players_and_sends_no_input() {
    let server = start(config(Some(runway_map()))).await;
    with_browser("spectator", |browser| spectator_follows(browser, &server)).await;
    server.shutdown().await;
}

async fn spectator_follows(mut browser: Browser, server: &RunningServer) -> Browser {
    let runner = Background::connect(server, "runner", Join::QuickPlay { map: None }).await;
    let room_id = runner.room.clone();
    let page = open_page(&mut browser, server, &format!("/?room={room_id}&spectate=1")).await;
    browser.bring_to_front(&page).await.unwrap();
    let watching =
        wait_for_state(&mut browser, &page, "the spectator to follow the runner", Duration::from_secs(10), |s| {
            s["state"] == "joined" && s["follow"] == runner.id && drawn(s, runner.id).is_some()
        })
        .await;
    assert_eq!(watching["room"]["id"], room_id.as_str(), "{watching}");
    assert_eq!(watching["room"]["role"], "spectator", "{watching}");
    assert_eq!((watching["playerId"].as_u64(), &watching["position"]), (Some(0), &Value::Null), "no own player");
    assert_eq!(watching["followName"], "runner", "{watching}");
    assert_eq!(room_of(server, &room_id).spectators(), 1);

    // The runner runs right: the page draws it where the server had it at the tick drawn (between the two ticks
    // around it), and the camera stays on it.
    runner.go(127, 0);
    let (mut samples, mut between, mut first_x, mut last_x) = (0, 0, None, 0.0);
    // Ten samples at least, over a run of 150 units at least (the runway is long enough for five seconds).
    let deadline = Instant::now() + Duration::from_secs(5);
    while (samples < 10 || first_x.is_none_or(|x0: f64| last_x - x0 < 150.0)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let state = page_state(&mut browser, &page).await;
        let Some((x, y)) = drawn(&state, runner.id) else {
            fail(&browser, &page, &format!("runner not drawn: {state}"))
        };
        assert_eq!(xy(&state["camera"]), Some((x, y)), "the camera is on the followed player: {state}");
        let tick = state["sceneTick"].as_f64().unwrap();
        let base = tick.floor() as u32;
        // The server's x at the ticks around the one drawn (the newest may not be recorded yet).
        let server_x = |t: u32| position_at(server, &room_id, t, runner.id).map(|p| p.0);
        let Some(around) = (base.saturating_sub(2)..=base + 1).map(server_x).collect::<Option<Vec<f64>>>() else {
            continue; // not comparable: ticks not recorded yet
        };
        let after = server_x(base + 2).into_iter().chain(server_x(base + 3));
        let all: Vec<f64> = around.iter().copied().chain(after).collect();
        samples += 1;
        let (lo, hi) = all.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        // Extrapolating (a state arrived late) runs on along the velocity: at most a tick's run off.
        let slack = if state["interpMode"] == "interpolate" { 1e-6 } else { 10.0 };
        if x < lo - slack || x > hi + slack {
            fail(&browser, &page, &format!("drawn at x {x} for tick {tick}, the server had {all:?}: {state}"));
        }
        if state["interpMode"] == "interpolate" {
            let (a, b) = (around[2], around[3]);
            between += usize::from(x >= a.min(b) - 1e-6 && x <= a.max(b) + 1e-6);
        }
        first_x.get_or_insert(x);
        last_x = x;
    }
    let first_x = first_x.unwrap_or(last_x);
    eprintln!("{samples} samples of the running runner, {between} between the two ticks around the tick drawn");
    assert!(samples >= 8, "only {samples} samples could be compared with the server");
    assert!(last_x - first_x > 100.0, "the drawn runner moved from {first_x} to {last_x} only");
    assert!(between * 2 >= samples, "{between} of {samples} samples lay between the ticks around the tick drawn");

    // At rest, the drawn runner and the camera are exactly where the server has it.
    runner.go(0, 0);
    wait_for_state(
        &mut browser,
        &page,
        "the runner drawn at rest where the server has it",
        Duration::from_secs(5),
        |s| {
            let at = server_position(&newest_snapshot(server, &room_id), runner.id);
            at.is_some() && drawn(s, runner.id) == at && xy(&s["camera"]) == at
        },
    )
    .await;

    // A second player: E follows it, Q follows the runner again.
    let second = Background::connect(server, "second", Join::Room { id: room_id.clone() }).await;
    wait_for_state(&mut browser, &page, "both players", Duration::from_secs(5), |s| drawn(s, second.id).is_some())
        .await;
    tap_key(&mut browser, &page, KEY_E, TAP).await;
    let switched = wait_for_state(&mut browser, &page, "E to follow the second player", Duration::from_secs(3), |s| {
        s["follow"] == second.id
    })
    .await;
    assert_eq!(switched["followName"], "second", "{switched}");
    second.go(-127, 0);
    wait_for_state(&mut browser, &page, "the camera on the second player", Duration::from_secs(3), |s| {
        drawn(s, second.id).is_some_and(|p| xy(&s["camera"]) == Some(p) && p != drawn(s, runner.id).unwrap_or_default())
    })
    .await;
    second.go(0, 0);
    tap_key(&mut browser, &page, KEY_Q, TAP).await;
    wait_for_state(&mut browser, &page, "Q to follow the runner again", Duration::from_secs(3), |s| {
        s["follow"] == runner.id && s["followName"] == "runner"
    })
    .await;

    // F: a free camera, moved with the movement keys; F again follows the runner.
    tap_key(&mut browser, &page, KEY_F, TAP).await;
    let free = wait_for_state(&mut browser, &page, "the free camera", Duration::from_secs(3), |s| {
        s["freeCamera"] == true && s["follow"] == 0
    })
    .await;
    let (x0, _) = xy(&free["camera"]).unwrap();
    tap_key(&mut browser, &page, KEY_D, Duration::from_millis(400)).await;
    let flown = page_state(&mut browser, &page).await;
    let (x1, _) = xy(&flown["camera"]).unwrap();
    assert!(x1 - x0 > 150.0, "the free camera moved right from {x0} to {x1} only: {flown}");
    tap_key(&mut browser, &page, KEY_F, TAP).await;
    wait_for_state(&mut browser, &page, "F to follow again", Duration::from_secs(3), |s| {
        s["freeCamera"] == false && s["follow"] == runner.id && xy(&s["camera"]) == drawn(s, runner.id)
    })
    .await;

    // All along the page sent acknowledgements (the server sent deltas against them) and views, never an input:
    // the server would have closed it with 1008.
    let end = page_state(&mut browser, &page).await;
    assert_eq!((end["state"].as_str(), &end["closeCode"]), (Some("joined"), &Value::Null), "still watching: {end}");
    assert_eq!((end["inputsSent"].as_u64(), end["inputSeq"].as_u64()), (Some(0), Some(0)), "no input: {end}");
    assert!(counter(&browser, &page, &end, "acksSent") > 30, "a bare ack per tick: {end}");
    assert!(counter(&browser, &page, &end, "deltas") > 30, "the server got the acks: {end}");
    assert!(counter(&browser, &page, &end, "viewsSent") >= 5, "a view after the welcome and each change: {end}");
    assert_eq!(end["desyncs"], 0, "{end}");
    // Without interest management the roster lists the same room the snapshots show.
    assert_eq!(end["roster"], roster_of(&newest_snapshot(server, &room_id)), "{end}");
    assert_eq!(end["roster"].as_array().map(Vec::len), Some(2), "both players: {end}");
    assert_eq!(disconnects(server, "policy_violation").await, 0, "no client was closed for a policy violation");
    assert_eq!(room_of(server, &room_id).spectators(), 1);
    runner.finish().await;
    second.finish().await;
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spectators_free_camera_moves_its_view_radius() {
    let server = start(config(Some(runway_map()))).await;
    with_browser("spectator view", |browser| spectator_view(browser, &server)).await;
    server.shutdown().await;
}

/// With interest management a spectator sees only what is near its camera (the map's centre until its first view)
/// or the player it follows: its views must reach the server for it to see anyone. Its roster lists the whole room
/// all along, in its scoreboard too, and following a player from the roster brings that player into view.
async fn spectator_view(mut browser: Browser, server: &RunningServer) -> Browser {
    // The runway is 1600 units long and the runner stands at its spawn, x = 160: 640 units from the centre.
    let options = RoomOptions { view_radius: Some(300.0), ..RoomOptions::default() };
    let runner = Background::connect(server, "runner", Join::Create(options)).await;
    let room_id = runner.room.clone();
    assert_eq!(room_of(server, &room_id).view_radius, 300.0);
    let page = open_page(&mut browser, server, &format!("/?room={room_id}&spectate=1")).await;
    browser.bring_to_front(&page).await.unwrap();
    let start = wait_for_state(&mut browser, &page, "the spectator in the room", Duration::from_secs(10), |s| {
        s["state"] == "joined"
            && s["snapshots"].as_u64() > Some(15)
            && s["rostersReceived"].as_u64() >= Some(1)
            && s["scoreboard"].as_array().is_some_and(|rows| !rows.is_empty())
    })
    .await;
    assert_eq!(start["room"]["role"], "spectator", "{start}");
    assert_eq!((start["players"].as_u64(), &start["follow"]), (Some(0), &json!(0)), "nobody in view yet: {start}");
    assert_eq!(xy(&start["camera"]), Some((800.0, 160.0)), "the camera starts at the map's centre: {start}");
    // Out of view, the runner is in the roster, as the server has it, and on the scoreboard; the roster alone does
    // not make the camera follow anyone.
    let roster = roster_of(&newest_snapshot(server, &room_id));
    assert_eq!(roster, json!([{ "id": runner.id, "name": "runner", "score": 0, "hp": 100 }]));
    assert_eq!(start["roster"], roster, "{start}");
    assert_eq!(start["scoreboard"], scoreboard_of(&roster), "the scoreboard lists the runner: {start}");
    assert_eq!(start["spectatorTitle"], "Nobody in view: Q/E follow a player", "{start}");

    // Fly left with the free camera: once it is within the radius of the runner, the server sends the runner.
    tap_key(&mut browser, &page, KEY_F, TAP).await;
    wait_for_state(&mut browser, &page, "the free camera", Duration::from_secs(3), |s| s["freeCamera"] == true).await;
    tap_key(&mut browser, &page, KEY_A, Duration::from_millis(700)).await;
    let near = wait_for_state(&mut browser, &page, "the runner in view", Duration::from_secs(3), |s| {
        s["players"] == 1 && drawn(s, runner.id).is_some()
    })
    .await;
    let (cx, _) = xy(&near["camera"]).unwrap();
    assert!(cx < 460.0, "the camera came within 300 units of the runner: {near}");
    // E follows it; flying away again (F, D) takes it out of view.
    tap_key(&mut browser, &page, KEY_E, TAP).await;
    wait_for_state(&mut browser, &page, "E to follow the runner", Duration::from_secs(3), |s| s["follow"] == runner.id)
        .await;
    tap_key(&mut browser, &page, KEY_F, TAP).await;
    tap_key(&mut browser, &page, KEY_D, Duration::from_millis(900)).await;
    let away =
        wait_for_state(&mut browser, &page, "the runner out of view", Duration::from_secs(3), |s| s["players"] == 0)
            .await;
    assert!(xy(&away["camera"]).unwrap().0 > 460.0, "{away}");
    assert_eq!((away["state"].as_str(), away["inputsSent"].as_u64()), (Some("joined"), Some(0)), "{away}");
    // Out of view again, the runner is still listed: rosters kept coming (one a second), the scoreboard has it.
    assert!(away["rosterTick"].as_u64() > start["rosterTick"].as_u64(), "a newer roster since the start: {away}");
    assert_eq!(away["roster"], roster, "{away}");
    assert_eq!(away["scoreboard"], scoreboard_of(&roster), "the scoreboard lists the runner out of view: {away}");
    assert!(drawn(&away, runner.id).is_none(), "{away}");

    // E from afar follows the runner at once, named from the roster; the server centres the view on it, so it comes
    // into the snapshots and is drawn where the server has it, with the camera on it.
    tap_key(&mut browser, &page, KEY_E, TAP).await;
    let following =
        wait_for_state(&mut browser, &page, "E to follow the runner from afar", Duration::from_secs(3), |s| {
            s["follow"] == runner.id
        })
        .await;
    assert_eq!((&following["freeCamera"], &following["followName"]), (&json!(false), &json!("runner")), "{following}");
    eprintln!("followed from afar: {} players in the page's snapshots then", following["players"]);
    wait_for_state(&mut browser, &page, "the bar to name the runner", Duration::from_secs(3), |s| {
        s["spectatorTitle"] == "Spectating runner"
    })
    .await;
    let at = server_position(&newest_snapshot(server, &room_id), runner.id).expect("the runner on the server");
    let near = wait_for_state(&mut browser, &page, "the followed runner in view", Duration::from_secs(5), |s| {
        s["players"] == 1 && drawn(s, runner.id) == Some(at) && xy(&s["camera"]) == Some(at)
    })
    .await;
    assert_eq!(near["follow"], runner.id, "{near}");
    assert_eq!(server_position(&newest_snapshot(server, &room_id), runner.id), Some(at), "the runner stood still");
    assert_eq!(near["scoreboard"], scoreboard_of(&roster), "{near}");
    assert_eq!((near["state"].as_str(), near["inputsSent"].as_u64()), (Some("joined"), Some(0)), "{near}");
    assert_eq!(near["desyncs"], 0, "{near}");
    assert_eq!(disconnects(server, "policy_violation").await, 0);
    runner.finish().await;
    browser
}

/// The roster a spectator of the room whose newest state is `snapshot` should hold: its players by id, as
/// `window.skirmish.roster` lists them.
fn roster_of(snapshot: &WorldSnapshot) -> Value {
    let mut players: Vec<_> = snapshot.entities.iter().filter(|e| e.kind == EntityKind::Player).collect();
    players.sort_by_key(|e| e.id);
    let entry = |e: &&EntityState| {
        json!({
            "id": e.id,
            "name": e.name.as_deref(),
            "score": e.fields[pf::SCORE],
            "hp": e.fields[pf::HP],
        })
    };
    Value::Array(players.iter().map(entry).collect())
}

/// The scoreboard rows (`window.skirmish.scoreboard`) of a roster of one player.
fn scoreboard_of(roster: &Value) -> Value {
    let p = &roster[0];
    assert_eq!(roster.as_array().map(Vec::len), Some(1), "one player: {roster}");
    json!([{ "id": p["id"], "name": p["name"], "score": p["score"], "alive": p["hp"].as_i64() > Some(0) }])
}
