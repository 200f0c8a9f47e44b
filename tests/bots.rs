//! The bots library against a real server on a loopback port: fifty bots join, play, score kills, and the report
//! shows snapshots at about the tick rate and no desyncs. Failing targets give clear errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use skirmish::client::ClientError;
use skirmish::config::ServerConfig;
use skirmish::swarm::{self, Progress, SwarmConfig, SwarmError};
use tokio::sync::watch;

fn swarm_config(url: String, count: usize, seconds: f64) -> SwarmConfig {
    SwarmConfig {
        url,
        count,
        duration: Duration::from_secs_f64(seconds),
        ramp_per_sec: 200.0,
        input_rate: 30.0,
        hold_fire: false,
        name_prefix: "bot".into(),
        seed: 7,
        protocol_version: skirmish::protocol::PROTOCOL_VERSION,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_bots_play_with_snapshots_at_the_tick_rate_and_no_desyncs() {
    let server = start(ServerConfig::for_tests()).await;
    let (_stop_tx, stop) = watch::channel(false);
    let report = within("swarm", swarm::run(swarm_config(url(&server), 50, 6.0), Arc::new(Progress::default()), stop))
        .await
        .expect("swarm runs");
    println!("{}", report.render());
    assert_eq!(report.connected, 50);
    assert_eq!((report.failed, report.disconnected), (0, 0), "{:?}", report.close_reasons);
    assert!(report.snapshots_per_bot_s > 27.0, "{} snapshots per bot per second", report.snapshots_per_bot_s);
    assert!(report.interarrival_ms_p50 > 25.0 && report.interarrival_ms_p50 < 45.0, "{report:?}");
    assert_eq!(report.desyncs, 0);
    // A full snapshot goes out with the welcome; a bot whose first acknowledgement misses the next tick (a loaded
    // debug build) gets one more. Deltas after that.
    assert!((50..=100).contains(&report.full_snapshots), "{} full snapshots for 50 bots", report.full_snapshots);
    assert!(report.deltas > 50 * 100);
    assert!(report.kills > 0, "the bots fought");
    assert!(report.ack_latency_ms_p50 > 0.0 && report.ack_latency_ms_p99 < 500.0, "{report:?}");
    assert!(report.bytes_in_per_bot_s > 1000.0 && report.bytes_out_per_bot_s > 100.0);
    // Every bot closed its socket when the run ended.
    within("bots leave", async {
        while players(&server) != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_is_down_or_speaks_another_version_is_a_clear_error() {
    // Bind and drop a listener to find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_stop_tx, stop) = watch::channel(false);
    let config = swarm_config(format!("ws://127.0.0.1:{port}/ws"), 5, 1.0);
    match swarm::run(config, Arc::new(Progress::default()), stop.clone()).await {
        Err(SwarmError::FirstBot { source: ClientError::Connect { .. }, .. }) => {}
        other => panic!("expected a connection error, got {:?}", other.map(|r| r.connected)),
    }

    let server = start(ServerConfig::for_tests()).await;
    let mut config = swarm_config(url(&server), 5, 1.0);
    config.protocol_version = 9;
    let error = swarm::run(config, Arc::new(Progress::default()), stop.clone()).await.unwrap_err();
    assert!(error.to_string().contains("protocol version mismatch: server speaks 3, client sent 9"), "{error}");

    // A refused handshake: a plain HTTP path that is not a WebSocket endpoint.
    let config = swarm_config(format!("ws://{}/healthz", server.local_addr), 5, 1.0);
    let error = swarm::run(config, Arc::new(Progress::default()), stop).await.unwrap_err();
    assert!(matches!(error, SwarmError::FirstBot { source: ClientError::Handshake(_), .. }), "{error}");
    server.shutdown().await;
}
