//! Fifty clients at once for a few seconds: each receives a snapshot for nearly every tick.

mod common;

use std::time::Duration;

use common::*;
use skirmish::config::ServerConfig;

const CLIENTS: usize = 50;
const RUN: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_each_get_nearly_every_tick() {
    let config = ServerConfig::for_tests();
    let tick_rate = config.room.tick_rate;
    let server = start(config).await;
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let client = connect(&server, &format!("load{i}")).await;
        tasks.push(tokio::spawn(play_for(client, RUN)));
    }
    let rate = RateWatch::start(&server);
    for (i, task) in tasks.into_iter().enumerate() {
        within("client task", task).await.unwrap().assert_nearly_every_tick(&format!("client {i}"), 90, 90);
    }
    rate.assert_full_rate(&server, tick_rate);
    server.shutdown().await;
}
