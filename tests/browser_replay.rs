//! The replay room's controls in real headless Chromium: bots play a short match on a server that records it, a
//! second server hosts the file as a replay room (`--replay`), and a page spectating it (`/?room=ID&spectate=1`)
//! finds itself in a replay from the room's greeting, shows the control bar, and drives the playback with it: Pause
//! stops the world's tick and the status line says who paused it; 2x then Play makes the ticks advance about twice
//! as fast as the room's 30 a second. No console errors. Chromium is driven as in `browser.rs`; a missing browser
//! fails with instructions.

mod cdp;
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cdp::pages::*;
use cdp::{Browser, Page};
use common::*;
use serde_json::Value;
use skirmish::config::ServerConfig;
use skirmish::recording::{Recording, RecordingConfig};
use skirmish::swarm::{self, Progress};
use tokio::sync::watch;

/// The recorded match: long enough for the page to load, pause, and play two seconds at 2x before it ends.
const MATCH_SECONDS: f64 = 8.0;

/// A fresh directory under target/ for the recording.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("browser-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

/// Four bots play `MATCH_SECONDS` on a recording server; returns the room's recording, decoded.
async fn record_a_match() -> Arc<Recording> {
    let dir = temp_dir("match");
    let mut config = ServerConfig::for_tests();
    config.recording = RecordingConfig {
        dir: Some(dir.clone()),
        max_bytes: 64 << 20,
        checksum_every: 30,
        state_every: 0,
        log_frames: Vec::new(),
        frames_dir: None,
    };
    let server = start(config).await;
    let bots = swarm_config(url(&server), 4, MATCH_SECONDS);
    let (_stop_tx, stop) = watch::channel(false);
    within("swarm", swarm::run(bots, Arc::new(Progress::default()), stop)).await.expect("swarm runs");
    server.shutdown().await;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("list the recordings")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".skrec"))
        .collect();
    assert_eq!(files.len(), 1, "one recording: {files:?}");
    let bytes = std::fs::read(files.pop().unwrap()).expect("read the recording");
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(Recording::load(&bytes).expect("the recording loads"))
}

fn tick(browser: &Browser, page: &Page, state: &Value) -> u64 {
    counter(browser, page, state, "tick")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_room_is_paused_and_sped_up_from_its_control_bar() {
    let recording = record_a_match().await;
    let last_tick = recording.frames.last().expect("recorded ticks").tick;
    assert!(last_tick >= 200, "the match is {last_tick} ticks");
    with_browser("replay controls", |mut browser| async move {
        // The replay room plays from the server's start, watched or not: start it once the browser is up.
        let mut config = ServerConfig::for_tests();
        config.replay = Some(recording);
        let server = start(config).await;
        let room = the_room(&server);
        assert!(room.name.starts_with("replay "), "{}", room.name);
        let page = open_page(&mut browser, &server, &format!("/?room={}&spectate=1", room.id)).await;

        let state = wait_for_state(&mut browser, &page, "the replay bar", Duration::from_secs(10), |s| {
            s["state"] == "joined" && s["replay"]["active"] == true && s["replay"]["shown"] == true && s["tick"] != 0
        })
        .await;
        let replay = &state["replay"];
        assert_eq!((&replay["paused"], &replay["speed"]), (&Value::Bool(false), &serde_json::json!(1)), "{state}");
        let status = replay["status"].as_str().unwrap_or_default();
        assert!(status.contains(&format!("of {last_tick}, playing, speed 1")), "the greeting: {status}");

        // Pause: the room's answer comes after every snapshot sent before it, so the tick then stays put.
        click(&mut browser, &page, "#replay-toggle").await;
        let paused =
            wait_for_state(&mut browser, &page, "the pause", Duration::from_secs(5), |s| s["replay"]["paused"] == true)
                .await;
        let status = paused["replay"]["status"].as_str().unwrap_or_default().to_string();
        assert!(status.contains("paused the replay at tick"), "{status}");
        assert_eq!(paused["replay"]["lastPress"], "sent");
        let frozen = tick(&browser, &page, &paused);
        tokio::time::sleep(Duration::from_millis(800)).await;
        let still = page_state(&mut browser, &page).await;
        assert_eq!(tick(&browser, &page, &still), frozen, "paused, yet the tick moved: {still}");
        assert_eq!(still["replay"]["paused"], true);

        // 2x, then Play (the burst's second and third lines).
        click(&mut browser, &page, "button[data-speed=\"2\"]").await;
        wait_for_state(&mut browser, &page, "speed 2", Duration::from_secs(5), |s| s["replay"]["speed"] == 2).await;
        click(&mut browser, &page, "#replay-toggle").await;
        let playing = wait_for_state(&mut browser, &page, "the resume", Duration::from_secs(5), |s| {
            s["replay"]["paused"] == false
        })
        .await;
        let status = playing["replay"]["status"].as_str().unwrap_or_default();
        assert!(status.contains("resumed the replay") && status.contains("(speed 2)"), "{status}");

        // About 60 recorded ticks a second (30 room ticks, two each); loose bounds for a shared 2-core machine.
        let (from, started) = (tick(&browser, &page, &playing), Instant::now());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let later = page_state(&mut browser, &page).await;
        let rate = (tick(&browser, &page, &later) - from) as f64 / started.elapsed().as_secs_f64();
        eprintln!("replay controls: {rate:.1} ticks/s at speed 2");
        assert_eq!(later["replay"]["ended"], false, "the replay ended while measured: {later}");
        if !(40.0..=80.0).contains(&rate) {
            fail(&browser, &page, &format!("at speed 2 the ticks advanced {rate:.1}/s, not about 60: {later}"));
        }
        if browser.page_log(&page).to_lowercase().contains("error") {
            fail(&browser, &page, "the page logged an error");
        }
        server.shutdown().await;
        browser
    })
    .await;
}
