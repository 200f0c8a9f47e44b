//! The bundled browser client in real headless Chromium against an in-process server: it joins, moves where the
//! server says it is, sees other players, and draws a non-blank canvas.
//!
//! Chromium is driven over the DevTools protocol (`cdp`). A missing browser fails these tests with instructions
//! (CI installs it in .ci/run); they are never skipped silently. The tests take turns (one browser at a time, two
//! cores), and each one is bounded by `TEST_TIMEOUT` once it has its turn.

mod cdp;
mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cdp::{Browser, Page};
use common::*;
use serde_json::Value;
use skirmish::config::ServerConfig;
use skirmish::protocol::player_field as pf;
use skirmish::server::RunningServer;
use skirmish::sim::Map;
use skirmish::snapshot::WorldSnapshot;

/// Every browser test finishes (or fails) within this, browser start-up included.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The fixed viewport of every page.
const VIEWPORT: (u32, u32) = (1200, 800);
/// Polling period of page-state waits.
const POLL: Duration = Duration::from_millis(50);

/// One browser at a time: three Chromium instances at once would only make each test slower and flakier.
static BROWSER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `test` with a fresh browser when it is this test's turn, bounded by `TEST_TIMEOUT`; closes the browser
/// afterwards (dropping it kills the process if the test failed or timed out).
async fn with_browser<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: Future<Output = Browser>,
{
    let _turn = BROWSER_TURN.lock().await;
    let started = Instant::now();
    let run = async {
        let browser = Browser::launch().await.unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{name}: browser up in {:?}", started.elapsed());
        test(browser).await
    };
    let browser = tokio::time::timeout(TEST_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("{name}: timed out after {TEST_TIMEOUT:?}"));
    browser.close().await;
    eprintln!("{name}: done in {:?}", started.elapsed());
}

/// The server's test configuration with its snapshots recorded, on `map` (the bundled arena when `None`).
fn config(map: Option<Map>) -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    if let Some(map) = map {
        config.room.map = map;
    }
    config.room.record_snapshots = 512;
    config
}

/// A long empty floor with one spawn near its left end: a second of running right never reaches a wall, so the
/// player comes to rest by friction alone.
fn runway_map() -> Map {
    Map::parse(
        r#"{"name": "runway", "width": 1600, "height": 320, "walls": [], "spawns": [[160, 160]]}"#,
        "runway test map",
    )
    .expect("valid test map")
}

/// Panics with `what`, the page's console and Chromium's stderr: what a failed browser test needs to be debugged.
fn fail(browser: &Browser, page: &Page, what: &str) -> ! {
    panic!(
        "{what}\n--- page console ---\n{}\n--- chromium stderr (tail) ---\n{}",
        browser.page_log(page),
        browser.stderr_tail()
    )
}

/// `window.skirmish` as plain JSON (its getters evaluated), or null before the client script ran.
async fn page_state(browser: &mut Browser, page: &Page) -> Value {
    let expression = "window.skirmish === undefined ? null : JSON.parse(JSON.stringify(window.skirmish))";
    match browser.evaluate(page, expression).await {
        Ok(state) => state,
        Err(e) => fail(browser, page, &e.to_string()),
    }
}

/// Polls the page state until `done` holds for it; returns that state.
async fn wait_for_state(
    browser: &mut Browser,
    page: &Page,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let state = page_state(browser, page).await;
        if done(&state) {
            return state;
        }
        if Instant::now() > deadline {
            fail(browser, page, &format!("timed out after {timeout:?} waiting for {what}; last state: {state}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The own player's position in the page's snapshot store (the server's state of the newest applied tick).
fn position(state: &Value) -> Option<(f64, f64)> {
    xy(&state["position"])
}

/// The own player's predicted position (after every input sent so far).
fn predicted(state: &Value) -> Option<(f64, f64)> {
    xy(&state["predictedPosition"])
}

fn xy(point: &Value) -> Option<(f64, f64)> {
    Some((point["x"].as_f64()?, point["y"].as_f64()?))
}

/// A counter of the page state; a missing or non-numeric one fails the test.
fn counter(browser: &Browser, page: &Page, state: &Value, key: &str) -> u64 {
    state[key].as_u64().unwrap_or_else(|| fail(browser, page, &format!("window.skirmish.{key} is missing: {state}")))
}

/// Player `id`'s position in one of the server's own snapshots, world units.
fn server_position(snapshot: &WorldSnapshot, id: u32) -> Option<(f64, f64)> {
    let e = snapshot.entity(id)?;
    Some((f64::from(e.fields[pf::X]) / 16.0, f64::from(e.fields[pf::Y]) / 16.0))
}

/// Opens a page on the server's bundled client as `name` and waits until it has joined and sees its own player.
async fn joined_page(browser: &mut Browser, server: &RunningServer, name: &str) -> (Page, Value) {
    let page = browser.new_page(VIEWPORT.0, VIEWPORT.1).await.unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://{}/?name={name}", server.local_addr);
    if let Err(e) = browser.navigate(&page, &url).await {
        fail(browser, &page, &e.to_string());
    }
    let state = wait_for_state(browser, &page, &format!("{name} to join"), Duration::from_secs(10), |s| {
        s["state"] == "joined" && position(s).is_some() && s["playerId"].as_u64().is_some()
    })
    .await;
    (page, state)
}

/// Waits until the page's own position, as the server sent it and as predicted, stays put for a few ticks while
/// ticks keep arriving; returns the state then.
async fn wait_until_still(browser: &mut Browser, page: &Page) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = page_state(browser, page).await;
    let mut still_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let state = page_state(browser, page).await;
        if position(&state) != position(&last) || predicted(&state) != predicted(&last) || state["tick"] == last["tick"]
        {
            still_since = Instant::now();
        }
        if still_since.elapsed() >= Duration::from_millis(300) {
            return state;
        }
        if Instant::now() > deadline {
            fail(browser, page, &format!("the player never came to rest; last state: {state}"));
        }
        last = state;
    }
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
    // is then off by a step: seen under CPU load in about 1 run in 12. Each such tick can explain one correction;
    // with none, none is allowed.
    let corrections = counter(&browser, &page, &after, "corrections");
    let explained = room_stats(&server).inputs_repeated.load(std::sync::atomic::Ordering::Relaxed)
        + room_stats(&server).inputs_skipped.load(std::sync::atomic::Ordering::Relaxed);
    if corrections > explained {
        let largest = &after["maxCorrection"];
        fail(
            &browser,
            &page,
            &format!(
                "{corrections} prediction corrections (largest {largest} units) on an open runway, with {explained} \
                 inputs repeated or skipped by the room: {after}"
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
