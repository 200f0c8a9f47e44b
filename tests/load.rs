//! Fifty clients at once for a few seconds: each receives a snapshot for nearly every tick.

mod common;

use std::time::Duration;

use common::*;
use skirmish::client::ServerEvent;
use skirmish::config::Config;

const CLIENTS: usize = 50;
const RUN: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_each_get_nearly_every_tick() {
    let server = start(Config::for_tests()).await;
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let mut client = connect(&server, &format!("load{i}")).await;
        tasks.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + RUN;
            let (mut first, mut last, mut received) = (0u32, 0u32, 0u32);
            while tokio::time::Instant::now() < deadline {
                let event = within("snapshot", client.next_event()).await.expect("server message");
                if let ServerEvent::Snapshot { tick, .. } = event {
                    if first == 0 {
                        first = tick;
                    }
                    last = tick;
                    received += 1;
                    let step = (tick % 64) as i8;
                    client.send_input(step - 32, 32 - step, (tick * 997) as u16, tick % 4 == 0).await.unwrap();
                }
            }
            assert_eq!(client.stats.desyncs, 0);
            client.close().await;
            (first, last, received)
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let (first, last, received) = within("client task", task).await.unwrap();
        let span = last - first + 1;
        assert!(span >= 90, "client {i} saw ticks {first}..={last} only");
        assert!(received * 100 >= span * 90, "client {i} received {received} snapshots over {span} ticks");
    }
    server.shutdown().await;
}
