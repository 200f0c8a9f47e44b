//! The live dashboard (`/dashboard`, client/dashboard.html) in real headless Chromium while bots play in two rooms:
//! it polls `/dashboard/data` with no console errors, keeps points for every series and draws them (read back from
//! its canvases), lists both rooms with a link that spectates each (followed, it does), and saves a screenshot to
//! target/screenshots/dashboard.png. When the network to the server goes away it says so in a banner, keeps what it
//! had and keeps polling, and picks up again by itself once the server can be reached. On a server with
//! `--metrics-token`, the page opened with `?token=` gets its data; without it, no page at all.
//!
//! Chromium is driven as in `browser.rs` (tests/cdp); a missing browser fails with instructions. The page's own
//! read-only `window.dashboard` tells how many polls succeeded and failed and how many points each series has. The
//! dashboard is served through a TCP proxy in the test, as in `browser_sessions.rs`, which cuts its connections
//! and refuses new ones: the server itself would go on answering a keep-alive connection it already has.

mod cdp;
mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cdp::pages::*;
use cdp::{Browser, Page};
use common::proxy::Proxy;
use common::*;
use serde_json::Value;
use skirmish::config::ServerConfig;
use skirmish::server::RunningServer;
use skirmish::swarm::{self, Progress, RoomsConfig, SwarmConfig};
use skirmish::telemetry::access::MetricsToken;
use tokio::sync::watch;

/// Bots in all, spread over two rooms: enough to move every counter, few enough for a debug build beside Chromium.
const BOTS: usize = 8;
/// A series has this many points at least before the plots are judged (rates need two polls for their first).
const MIN_POINTS: u64 = 4;

/// Polls `window.dashboard` until `done` holds for it (never before its script ran); returns it then.
async fn wait_for_dashboard(
    browser: &mut Browser,
    page: &Page,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_global(browser, page, "dashboard", what, timeout, |state| !state.is_null() && done(state)).await
}

/// Whether every series the page keeps has at least `MIN_POINTS` points.
fn every_series_filled(state: &Value) -> bool {
    state["points"].as_object().is_some_and(|points| {
        !points.is_empty() && points.values().all(|n| n.as_u64().is_some_and(|n| n >= MIN_POINTS))
    })
}

/// Reads each chart's canvas back: its size, and how many pixels have (nearly) the colour of one of the plotted lines
/// (the palette of dashboard.chart.js), which the grid, labels and background never do.
const CHART_PIXELS: &str = r#"(() => {
  const palette = [[95, 211, 168], [97, 175, 239], [229, 192, 123], [224, 108, 117]];
  const out = {};
  for (const figure of document.querySelectorAll('figure.chart')) {
    const canvas = figure.querySelector('canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let line = 0;
    for (let i = 0; i < data.length; i += 4) {
      const near = palette.some(([r, g, b]) =>
        Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 40);
      if (near) line += 1;
    }
    out[figure.id.replace('chart-', '')] = { width: canvas.width, height: canvas.height, line };
  }
  return out;
})()"#;

/// The rooms table: each row's room id, name cell and spectate link.
const ROOM_TABLE: &str = r#"[...document.querySelectorAll('#room-rows tr')].map((tr) => ({
  room: tr.dataset.room,
  text: tr.innerText,
  href: tr.querySelector('a.spectate')?.getAttribute('href') ?? null,
}))"#;

/// target/screenshots, next to the tests' temporary directory.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("CARGO_TARGET_TMPDIR is inside target/").join("screenshots")
}

/// The dashboard's load: a few bots over two rooms, moving and firing less than the default.
fn dashboard_bots(server: &RunningServer, seconds: u64) -> SwarmConfig {
    SwarmConfig {
        ramp_per_sec: 100.0,
        input_rate: 20.0,
        seed: 11,
        rooms: Some(RoomsConfig::new(2)),
        ..swarm_config(url(server), BOTS, seconds as f64)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_plots_bots_in_two_rooms_links_to_spectate_them_and_rides_out_the_server_going_away() {
    let server = start(ServerConfig::for_tests()).await;
    let proxy = Proxy::start(server.local_addr).await;
    let (stop_bots, stop) = watch::channel(false);
    let bots = tokio::spawn(swarm::run(dashboard_bots(&server, 40), Arc::new(Progress::default()), stop));
    // Both rooms open with players before the page does, so every series starts with its first poll.
    let rooms: Vec<String> = within("the bots to fill two rooms", async {
        loop {
            let rooms = server.lobby.all();
            if rooms.len() == 2 && rooms.iter().all(|room| room.players() > 0) {
                return rooms.iter().map(|room| room.id.clone()).collect();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    with_browser("dashboard", |browser| live_dashboard(browser, &server, &proxy, rooms)).await;
    let _ = stop_bots.send(true);
    let report = within("the bots to stop", bots).await.expect("the bots' task").expect("the swarm ran");
    assert_eq!((report.connected, report.failed), (BOTS as u64, 0), "{}", report.render());
    drop(proxy);
    server.shutdown().await;
}

async fn live_dashboard(mut browser: Browser, server: &RunningServer, proxy: &Proxy, rooms: Vec<String>) -> Browser {
    let page = browser.new_page(VIEWPORT.0, VIEWPORT.1).await.unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = browser.navigate(&page, &format!("http://{}/dashboard", proxy.addr)).await {
        fail(&browser, &page, &e.0);
    }
    let state = wait_for_dashboard(&mut browser, &page, "points in every series", Duration::from_secs(12), |s| {
        every_series_filled(s) && s["rooms"].as_array().is_some_and(|shown| shown.len() == 2)
    })
    .await;
    eprintln!("dashboard: {} polls, points {}", state["polls"], state["points"]);
    assert_eq!(state["errors"], 0, "no poll failed: {state}");
    assert_eq!(state["banner"], Value::Null, "{state}");
    assert_eq!(state["tokenSent"], false, "{state}");
    let log = browser.page_log(&page);
    let lower = log.to_lowercase();
    if lower.contains("error") || lower.contains("uncaught") {
        fail(&browser, &page, "the dashboard logged an error");
    }

    // Every series of the brief has points: ticks per room, population, bytes both ways, drops, disconnects.
    let points = &state["points"];
    let mut expected: Vec<String> =
        ["players", "connections", "bytes_in", "bytes_out", "frames_dropped", "disconnects:peer_closed"]
            .map(String::from)
            .to_vec();
    for id in &rooms {
        expected.extend([format!("tick_p50:{id}"), format!("tick_p99:{id}"), format!("bytes_out:{id}")]);
    }
    for name in &expected {
        let n = points[name].as_u64().unwrap_or(0);
        assert!(n >= MIN_POINTS, "series {name} has {n} points: {points}");
    }
    // The charts drew them: lines with points, and their colours on the canvas.
    let charts = &state["charts"];
    for (chart, lines) in [("ticks", 4), ("population", 2), ("bandwidth", 2), ("frames", 2), ("drops", 1)] {
        let drawn = &charts[chart];
        assert!(drawn["lines"].as_u64() >= Some(lines), "chart {chart} drew {drawn}: {charts}");
        assert!(drawn["points"].as_u64() >= Some(lines * (MIN_POINTS - 1)), "chart {chart} drew {drawn}: {charts}");
    }
    let pixels = browser.evaluate(&page, CHART_PIXELS).await.unwrap_or_else(|e| fail(&browser, &page, &e.0));
    for chart in ["ticks", "population", "bandwidth", "frames"] {
        let p = &pixels[chart];
        assert!(p["width"].as_u64() > Some(200) && p["height"].as_u64() > Some(100), "canvas {chart}: {pixels}");
        assert!(p["line"].as_u64() > Some(20), "chart {chart} has no line drawn on its canvas: {pixels}");
    }

    // The table lists both rooms, each with a link that spectates it.
    let table = browser.evaluate(&page, ROOM_TABLE).await.unwrap_or_else(|e| fail(&browser, &page, &e.0));
    let rows = table.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{table}");
    for (index, id) in rooms.iter().enumerate() {
        let row = rows.iter().find(|row| row["room"] == id.as_str()).unwrap_or_else(|| panic!("{id}: {table}"));
        assert_eq!(row["href"], format!("/?room={id}&spectate=1"), "{table}");
        let name = RoomsConfig::new(2).name(index);
        assert!(row["text"].as_str().is_some_and(|text| text.contains(&name) && text.contains("30 Hz")), "{row}");
    }
    // (Chromium keeps timers of a page in the background running at full rate: the screenshot below is of the
    // dashboard, which keeps polling while the spectator plays in its own page.)
    let href = rows[0]["href"].as_str().unwrap().to_string();
    let room = rows[0]["room"].as_str().unwrap().to_string();
    let spectator = open_page(&mut browser, server, &href).await;
    let watching = wait_for_state(&mut browser, &spectator, "the link to spectate", Duration::from_secs(10), |s| {
        s["state"] == "joined" && s["room"]["role"] == "spectator"
    })
    .await;
    assert_eq!(watching["room"]["id"], room.as_str(), "{watching}");
    browser.bring_to_front(&page).await.unwrap_or_else(|e| fail(&browser, &page, &e.0));

    // A screenshot of the dashboard once a spectator shows in its figures.
    wait_for_dashboard(&mut browser, &page, "a poll after the spectator joined", Duration::from_secs(5), |s| {
        s["polls"].as_u64() > state["polls"].as_u64()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let png = browser.screenshot_png(&page).await.unwrap_or_else(|e| fail(&browser, &page, &e.0));
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes); charts {pixels}", path.display(), png.len());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 20 * 1024, "a {} byte screenshot is too small to show a dashboard", png.len());

    // The server can no longer be reached: the page says so and keeps polling; what it had stays up.
    let log_before = browser.page_log(&page);
    proxy.refusing.store(true, Ordering::Relaxed);
    proxy.cut();
    let away = wait_for_dashboard(&mut browser, &page, "the banner", Duration::from_secs(6), |s| {
        s["errors"].as_u64() >= Some(2) && s["banner"].is_string()
    })
    .await;
    let banner = away["banner"].as_str().unwrap();
    assert!(banner.contains("/dashboard/data") && banner.contains("Still trying"), "{banner}");
    assert_eq!(away["rooms"].as_array().map(Vec::len), Some(2), "the last figures stay: {away}");
    assert!(away["points"]["players"].as_u64() >= Some(MIN_POINTS), "{away}");
    let status = browser.evaluate(&page, "document.querySelector('#status').className").await;
    assert!(status.as_ref().is_ok_and(|c| c.as_str().is_some_and(|c| c.contains("stale"))), "{status:?}");
    // The network comes back: the next poll gets through, the banner goes, and the charts go on.
    proxy.refusing.store(false, Ordering::Relaxed);
    let polls = away["polls"].as_u64().unwrap();
    let back = wait_for_dashboard(&mut browser, &page, "polls to get through again", Duration::from_secs(5), |s| {
        s["polls"].as_u64() > Some(polls) && s["banner"].is_null()
    })
    .await;
    assert_eq!(back["restarts"], 0, "the same server, not a restart: {back}");
    assert_eq!(back["rooms"].as_array().map(Vec::len), Some(2), "{back}");
    // Failed polls show in the banner, never as console errors of the page's own.
    assert_eq!(browser.page_log(&page), log_before, "the page logged while polls failed");
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_metrics_token_the_dashboard_opened_with_it_gets_its_data() {
    const TOKEN: &str = "dashboard-test-token-0123";
    let mut config = ServerConfig::for_tests();
    config.metrics_token = Some(MetricsToken::new(TOKEN).expect("a valid token"));
    let server = start(config).await;
    let _player = connect(&server, "ana").await;
    with_browser("dashboard token", |browser| dashboard_with_token(browser, &server, TOKEN)).await;
    server.shutdown().await;
}

async fn dashboard_with_token(mut browser: Browser, server: &RunningServer, token: &str) -> Browser {
    let page = open_page(&mut browser, server, &format!("/dashboard?token={token}")).await;
    let state = wait_for_dashboard(&mut browser, &page, "two polls", Duration::from_secs(8), |s| {
        s["polls"].as_u64() >= Some(2)
    })
    .await;
    assert_eq!((state["errors"].as_u64(), &state["tokenSent"]), (Some(0), &Value::Bool(true)), "{state}");
    assert_eq!(state["rooms"].as_array().map(Vec::len), Some(1), "ana's room: {state}");
    // The page sent the token in a header: its own address is the only place it appears in the query.
    let status = browser
        .evaluate(&page, "document.querySelector('#status').textContent")
        .await
        .unwrap_or_else(|e| fail(&browser, &page, &e.0));
    assert!(status.as_str().is_some_and(|s| s.contains("with token")), "{status}");
    // Without the token, neither the page nor its data.
    let refused = browser
        .evaluate(&page, "Promise.all(['/dashboard', '/dashboard/data'].map((p) => fetch(p).then((r) => r.status)))")
        .await
        .unwrap_or_else(|e| fail(&browser, &page, &e.0));
    assert_eq!(refused, serde_json::json!([401, 401]), "without the token");
    if browser.page_log(&page).to_lowercase().contains("error") {
        fail(&browser, &page, "the dashboard logged an error");
    }
    browser
}
