//! Shared set-up for the end-to-end tests: a real server on an ephemeral loopback port and real WebSocket clients.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use skirmish::client::{GameClient, ServerEvent};
use skirmish::config::Config;

use skirmish::server::{self, RunningServer};
use skirmish::sim::Map;
use skirmish::snapshot::{Entity, WorldSnapshot};

/// Every network wait in the tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub async fn start(config: Config) -> RunningServer {
    server::start(config).await.expect("server starts on loopback")
}

pub fn url(server: &RunningServer) -> String {
    format!("ws://{}/ws", server.local_addr)
}

pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, future).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub async fn connect(server: &RunningServer, name: &str) -> GameClient {
    within("connect", GameClient::connect(&url(server), name)).await.expect("client connects")
}

/// Reads until a snapshot is applied; returns its tick.
pub async fn next_snapshot(client: &mut GameClient) -> u32 {
    within("snapshot", async {
        loop {
            match client.next_event().await.expect("server message") {
                ServerEvent::Snapshot { tick, .. } => return tick,
                ServerEvent::Desync(error) => panic!("desync: {error}"),
                ServerEvent::Pong { .. } => {}
            }
        }
    })
    .await
}

pub fn entity(entities: &[Entity], id: u32) -> Option<&Entity> {
    entities.iter().find(|e| e.id == id)
}

/// A small open map: two spawn points facing each other across an empty floor.
pub fn duel_map() -> Map {
    Map::parse(
        r#"{"name": "duel", "width": 640, "height": 320, "walls": [], "spawns": [[160, 160], [480, 160]]}"#,
        "duel test map",
    )
    .expect("valid test map")
}

/// The server's own snapshot of `tick`, from the test hook.
pub fn server_snapshot(server: &RunningServer, tick: u32) -> Option<Arc<WorldSnapshot>> {
    let tap = server.snapshots.as_ref().expect("record_snapshots enabled").lock().unwrap();
    tap.iter().find(|s| s.tick == tick).cloned()
}
