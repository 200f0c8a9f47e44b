//! What a shooter hears and sees in real headless Chromium: a scripted target (a client of the crate) walks into
//! the page's line of fire while the page holds Space; the page confirms its hits (the snapshots' `hits`, protocol
//! v5), draws hit markers, plays its synthesized shot and hit sounds once a key press has unlocked WebAudio, and
//! stops playing them when muted with M; the #mute button unmutes, and both are remembered in localStorage.

mod cdp;
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cdp::pages::*;
use cdp::Browser;
use common::*;
use glam::{IVec2, Vec2};
use serde_json::Value;
use skirmish::client::{GameClient, ServerEvent};
use skirmish::protocol::player_field;
use skirmish::server::RunningServer;
use skirmish::sim::{Map, POS_SCALE};

const KEY_SPACE: (&str, &str, u32) = (" ", "Space", 32);
const KEY_M: (&str, &str, u32) = ("m", "KeyM", 77);

/// An open arena: nothing stands between the shooter and its target.
fn open_arena() -> Map {
    Map {
        name: "open".into(),
        width: 1200,
        height: 800,
        walls: vec![],
        spawns: vec![IVec2::new(300, 400), IVec2::new(900, 400)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shooter_sees_and_hears_its_hits_and_can_mute_them() {
    let server = start(config(Some(open_arena()))).await;
    with_browser("feel", |browser| shoot_and_mute(browser, &server)).await;
    server.shutdown().await;
}

/// Walks the target until it stands `offset` in front of the page's player (aim 0 points along +x), stepping
/// towards the spot on every snapshot, until `stop`.
async fn target(mut client: GameClient, shooter: u32, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(1), client.next_event()).await else { break };
        if !matches!(event, ServerEvent::Snapshot { .. }) {
            continue;
        }
        let Some((_, entities)) = client.world() else { continue };
        let at = |id: u32| {
            entities
                .iter()
                .find(|e| e.id == id)
                .map(|e| Vec2::new(e.fields[player_field::X] as f32, e.fields[player_field::Y] as f32) / POS_SCALE)
        };
        let (Some(me), Some(page)) = (at(client.player_id()), at(shooter)) else { continue };
        let to = page + Vec2::new(110.0, 0.0) - me;
        let step = if to.length() > 6.0 { to.normalize() * 127.0 } else { Vec2::ZERO };
        if client.send_input(step.x as i8, step.y as i8, 32768, false).await.is_err() {
            break;
        }
    }
    client.close().await;
}

async fn shoot_and_mute(mut browser: Browser, server: &RunningServer) -> Browser {
    let (page, joined) = joined_page(&mut browser, server, "ana").await;
    let shooter = joined["playerId"].as_u64().expect("joined") as u32;
    let url = format!("ws://{}/ws", server.local_addr);
    let client = GameClient::connect(&url, "target").await.expect("the target joins");
    let stop = Arc::new(AtomicBool::new(false));
    let walker = tokio::spawn(target(client, shooter, stop.clone()));

    let state = page_global(&mut browser, &page, "skirmish").await;
    assert_eq!(state["muted"], false, "sound is on by default: {state}");
    assert!(state["audio"].is_null(), "no AudioContext before a user gesture: {state}");

    // Holding Space is the gesture that unlocks WebAudio, and fires along aim 0.
    browser
        .key(&page, true, KEY_SPACE.0, KEY_SPACE.1, KEY_SPACE.2)
        .await
        .unwrap_or_else(|e| fail(&browser, &page, &e.0));
    let hit = wait_for_state(&mut browser, &page, "a confirmed hit on the target", Duration::from_secs(15), |s| {
        s["hits"].as_u64().unwrap_or(0) >= 2
            && s["sounds"]["hit"].as_u64().unwrap_or(0) + s["sounds"]["kill"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    let target_id =
        hit["lastHit"]["victim"].as_u64().unwrap_or_else(|| fail(&browser, &page, &format!("no lastHit: {hit}")));
    assert_ne!(target_id, u64::from(shooter), "the page never hits itself");
    assert!(hit["hitMarkers"].as_u64().unwrap_or(0) >= 1, "a hit marker was drawn: {hit}");
    assert!(hit["sounds"]["shot"].as_u64().unwrap_or(0) >= 1, "own shots are heard: {hit}");
    assert_eq!(hit["audio"], "running", "the key press unlocked WebAudio: {hit}");
    assert!(hit["viewDelayMs"].as_u64().is_some(), "inputs report their view delay: {hit}");
    browser
        .key(&page, false, KEY_SPACE.0, KEY_SPACE.1, KEY_SPACE.2)
        .await
        .unwrap_or_else(|e| fail(&browser, &page, &e.0));

    // M mutes: shots and hits go on, sounds stop.
    tap_key(&mut browser, &page, KEY_M, TAP).await;
    let muted =
        wait_for_state(&mut browser, &page, "the page to mute", Duration::from_secs(3), |s| s["muted"] == true).await;
    let stored = browser
        .evaluate(&page, "localStorage.getItem('skirmish.muted')")
        .await
        .unwrap_or_else(|e| fail(&browser, &page, &e.0));
    assert_eq!(stored, Value::from("1"), "muting is remembered");
    let (shots_before, hits_before) = (muted["sounds"]["shot"].clone(), muted["hits"].as_u64().unwrap_or(0));
    browser
        .key(&page, true, KEY_SPACE.0, KEY_SPACE.1, KEY_SPACE.2)
        .await
        .unwrap_or_else(|e| fail(&browser, &page, &e.0));
    let more = wait_for_state(&mut browser, &page, "more hits while muted", Duration::from_secs(15), |s| {
        s["hits"].as_u64().unwrap_or(0) > hits_before
    })
    .await;
    browser
        .key(&page, false, KEY_SPACE.0, KEY_SPACE.1, KEY_SPACE.2)
        .await
        .unwrap_or_else(|e| fail(&browser, &page, &e.0));
    assert_eq!(more["sounds"]["shot"], shots_before, "no shot sound while muted: {more}");

    // The button unmutes, and that is remembered too.
    click(&mut browser, &page, "#mute").await;
    wait_for_state(&mut browser, &page, "the page to unmute", Duration::from_secs(3), |s| s["muted"] == false).await;
    let stored = browser
        .evaluate(&page, "localStorage.getItem('skirmish.muted')")
        .await
        .unwrap_or_else(|e| fail(&browser, &page, &e.0));
    assert_eq!(stored, Value::from("0"), "unmuting is remembered");

    stop.store(true, Ordering::Relaxed);
    let _ = walker.await;
    browser
}
