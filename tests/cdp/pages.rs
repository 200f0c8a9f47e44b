//! What the browser tests share: one browser at a time with a bounded run, pages opened on the server's bundled
//! client, the page's `window.skirmish` state polled, and clicks, keys and typing, each failing with the page's
//! console and Chromium's stderr.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;
use skirmish::config::ServerConfig;
use skirmish::server::RunningServer;
use skirmish::sim::Map;

use super::{Browser, Page};

/// Every browser test finishes (or fails) within this, browser start-up included.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The fixed viewport of every page.
pub const VIEWPORT: (u32, u32) = (1200, 800);
/// Polling period of page-state waits.
pub const POLL: Duration = Duration::from_millis(50);

/// One browser at a time: three Chromium instances at once would only make each test slower and flakier.
pub static BROWSER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `test` with a fresh browser when it is this test's turn, bounded by `TEST_TIMEOUT`; closes the browser
/// afterwards (dropping it kills the process if the test failed or timed out).
pub async fn with_browser<F, Fut>(name: &str, test: F)
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
pub fn config(map: Option<Map>) -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    if let Some(map) = map {
        config.room.map = map;
    }
    config.room.record_snapshots = 512;
    config
}

/// Panics with `what`, the page's console and Chromium's stderr: what a failed browser test needs to be debugged.
pub fn fail(browser: &Browser, page: &Page, what: &str) -> ! {
    panic!(
        "{what}\n--- page console ---\n{}\n--- chromium stderr (tail) ---\n{}",
        browser.page_log(page),
        browser.stderr_tail()
    )
}

/// `window.skirmish` as plain JSON (its getters evaluated), or null before the client script ran.
pub async fn page_state(browser: &mut Browser, page: &Page) -> Value {
    page_global(browser, page, "skirmish").await
}

/// Polls the page state until `done` holds for it; returns that state.
pub async fn wait_for_state(
    browser: &mut Browser,
    page: &Page,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_global(browser, page, "skirmish", what, timeout, done).await
}

/// `window.<name>` (a page's read-only view for tests) as plain JSON, its getters evaluated; null while undefined.
pub async fn page_global(browser: &mut Browser, page: &Page, name: &str) -> Value {
    let expression = format!("window.{name} === undefined ? null : JSON.parse(JSON.stringify(window.{name}))");
    match browser.evaluate(page, &expression).await {
        Ok(state) => state,
        Err(e) => fail(browser, page, &e.to_string()),
    }
}

/// Polls `window.<name>` until `done` holds for it; returns it then.
pub async fn wait_for_global(
    browser: &mut Browser,
    page: &Page,
    name: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let state = page_global(browser, page, name).await;
        if done(&state) {
            return state;
        }
        if Instant::now() > deadline {
            fail(browser, page, &format!("timed out after {timeout:?} waiting for {what}; window.{name}: {state}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The own player's position in the page's snapshot store (the server's state of the newest applied tick).
pub fn position(state: &Value) -> Option<(f64, f64)> {
    xy(&state["position"])
}

/// The own player's predicted position (after every input sent so far).
pub fn predicted(state: &Value) -> Option<(f64, f64)> {
    xy(&state["predictedPosition"])
}

pub fn xy(point: &Value) -> Option<(f64, f64)> {
    Some((point["x"].as_f64()?, point["y"].as_f64()?))
}

/// A counter of the page state; a missing or non-numeric one fails the test.
pub fn counter(browser: &Browser, page: &Page, state: &Value, key: &str) -> u64 {
    state[key].as_u64().unwrap_or_else(|| fail(browser, page, &format!("window.skirmish.{key} is missing: {state}")))
}

/// Opens a page on the server's bundled client as `name` and waits until it has joined and sees its own player.
pub async fn joined_page(browser: &mut Browser, server: &RunningServer, name: &str) -> (Page, Value) {
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

/// Opens a new page at `path` on the server (no waiting).
pub async fn open_page(browser: &mut Browser, server: &RunningServer, path: &str) -> Page {
    let page = browser.new_page(VIEWPORT.0, VIEWPORT.1).await.unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://{}{path}", server.local_addr);
    if let Err(e) = browser.navigate(&page, &url).await {
        fail(browser, &page, &e.to_string());
    }
    page
}

/// Clicks `selector`; a missing or hidden control fails the test.
pub async fn click(browser: &mut Browser, page: &Page, selector: &str) {
    if let Err(e) = browser.click(page, selector).await {
        fail(browser, page, &e.0);
    }
}

/// Clears the text field `selector` and types `text` into it.
pub async fn type_into(browser: &mut Browser, page: &Page, selector: &str, text: &str) {
    click(browser, page, selector).await;
    let clear = format!("document.querySelector({}).select()", serde_json::to_string(selector).unwrap());
    browser.evaluate(page, &clear).await.unwrap_or_else(|e| fail(browser, page, &e.0));
    if let Err(e) = browser.insert_text(page, text).await {
        fail(browser, page, &e.0);
    }
}

/// Presses and releases a key (DOM key, code, Windows key code), with `hold` in between.
pub async fn tap_key(browser: &mut Browser, page: &Page, key: (&str, &str, u32), hold: Duration) {
    let (name, code, key_code) = key;
    browser.key(page, true, name, code, key_code).await.unwrap_or_else(|e| fail(browser, page, &e.0));
    tokio::time::sleep(hold).await;
    browser.key(page, false, name, code, key_code).await.unwrap_or_else(|e| fail(browser, page, &e.0));
}

pub const KEY_E: (&str, &str, u32) = ("e", "KeyE", 69);
pub const KEY_Q: (&str, &str, u32) = ("q", "KeyQ", 81);
pub const KEY_F: (&str, &str, u32) = ("f", "KeyF", 70);
pub const KEY_A: (&str, &str, u32) = ("a", "KeyA", 65);
pub const KEY_D: (&str, &str, u32) = ("d", "KeyD", 68);
pub const KEY_ESCAPE: (&str, &str, u32) = ("Escape", "Escape", 27);
pub const TAP: Duration = Duration::from_millis(30);

/// Waits until the page's own position, as the server sent it and as predicted, stays put for a few ticks while
/// ticks keep arriving; returns the state then.
pub async fn wait_until_still(browser: &mut Browser, page: &Page) -> Value {
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
