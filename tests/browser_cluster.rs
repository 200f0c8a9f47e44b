//! The browser behind several processes in real headless Chromium: a page served by one process quick-plays,
//! is redirected to the room another process holds (the room directory in a real redis-server), follows the
//! redirect by itself and plays there, its debug view naming the process it plays on.

mod cdp;
mod common;

use std::time::Duration;

use cdp::pages::*;
use cdp::Browser;
use common::redis::{member, Redis, TTL};
use common::*;
use skirmish::client::GameClient;
use skirmish::server::RunningServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_follows_a_redirect_to_the_process_that_has_its_room() {
    let redis = Redis::start();
    let holder = start(member(&redis, "browser", 8)).await;
    let door = start(member(&redis, "browser", 8)).await;
    let bot = GameClient::connect(&url(&holder), "bot").await.expect("the bot opens a room on the first process");
    let room = bot.welcome.room.id.clone();
    let deadline = tokio::time::Instant::now() + TTL * 4;
    loop {
        let (_, body) = http(door.local_addr, "GET", "/rooms", "").await;
        if body.contains(&room) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the room never reached the directory: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    with_browser("cluster", |browser| play_through(browser, &door, &holder, &room)).await;
    bot.close().await;
    door.shutdown().await;
    holder.shutdown().await;
}

async fn play_through(mut browser: Browser, door: &RunningServer, holder: &RunningServer, room: &str) -> Browser {
    let (page, state) = joined_page(&mut browser, door, "ana").await;
    assert_eq!(state["room"]["id"], room, "quick play through the door put the page in the held room: {state}");
    assert_eq!(state["redirects"], 1, "{state}");
    assert_eq!(state["server"], format!("ws://{}/ws", holder.local_addr), "{state}");
    // It plays there: snapshots keep coming.
    let tick = state["tick"].as_u64().unwrap_or(0);
    wait_for_state(&mut browser, &page, "ticks on the other process", Duration::from_secs(5), |s| {
        s["tick"].as_u64().unwrap_or(0) > tick + 30
    })
    .await;
    browser
}
