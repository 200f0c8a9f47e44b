//! Shared set-up for the end-to-end tests: a real server on an ephemeral loopback port and real WebSocket clients.
#![allow(dead_code)]

pub mod golden_files;
pub mod proxy;
pub mod raw;
pub mod redis;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use skirmish::client::{GameClient, ServerEvent};
use skirmish::config::ServerConfig;

use skirmish::lobby::RoomEntry;
use skirmish::room::RoomStats;
use skirmish::server::{self, RunningServer};
use skirmish::sim::Map;
use skirmish::snapshot::{Entity, WorldSnapshot};

/// Every network wait in the tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub async fn start(config: ServerConfig) -> RunningServer {
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
                ServerEvent::Pong { .. } | ServerEvent::Roster { .. } | ServerEvent::Chat { .. } => {}
            }
        }
    })
    .await
}

/// The longest a good client may wait between two snapshots in these tests. A tick is 33 ms at 30 Hz; a debug
/// build sharing 2 cores with dozens of clients (and abusers) sees the odd late tick, never a stall this long.
pub const MAX_SNAPSHOT_GAP: Duration = Duration::from_millis(300);

/// Ticks a playing client saw: the first, the last, how many snapshots arrived in between, and the longest wait
/// between two of them.
pub struct TickCount {
    pub first: u32,
    pub last: u32,
    pub received: u32,
    pub longest_gap: Duration,
}

impl TickCount {
    /// Asserts the client got a snapshot for at least `percent`% of the ticks it spanned, over at least
    /// `min_span` ticks, and never waited longer than `MAX_SNAPSHOT_GAP` for one. Tick numbers alone cannot show
    /// a stalled room (after an overrun it skips time slots but numbers its ticks on), so the gap is measured in
    /// time, and `RateWatch` checks the room's own rate.
    pub fn assert_nearly_every_tick(&self, who: &str, min_span: u32, percent: u32) {
        let span = self.last - self.first + 1;
        assert!(span >= min_span, "{who} saw ticks {}..={} only", self.first, self.last);
        assert!(self.received * 100 >= span * percent, "{who} received {} snapshots over {span} ticks", self.received);
        assert!(
            self.longest_gap <= MAX_SNAPSHOT_GAP,
            "{who} waited {:?} between two snapshots (at most {MAX_SNAPSHOT_GAP:?})",
            self.longest_gap
        );
    }
}

/// Watches the room's tick counter against the clock: a room that overruns skips time slots, which only the
/// rate shows.
pub struct RateWatch {
    started: std::time::Instant,
    first_tick: u32,
}

impl RateWatch {
    pub fn start(server: &RunningServer) -> RateWatch {
        RateWatch { started: std::time::Instant::now(), first_tick: room_stats(server).tick.load(Ordering::Relaxed) }
    }

    /// Asserts the room ran at least 95% of the ticks `tick_rate` calls for since `start` (less one, for the tick
    /// in progress at either end).
    pub fn assert_full_rate(&self, server: &RunningServer, tick_rate: u32) {
        let elapsed = self.started.elapsed();
        let stats = room_stats(server);
        let ran = stats.tick.load(Ordering::Relaxed) - self.first_tick;
        let due = elapsed.as_secs_f64() * f64::from(tick_rate);
        assert!(
            f64::from(ran + 1) >= 0.95 * due,
            "the room ran {ran} ticks in {elapsed:?}, {due:.0} were due at {tick_rate} Hz ({} slots skipped in all)",
            stats.slots_skipped.load(Ordering::Relaxed)
        );
    }
}

/// Plays for `run`: answers every snapshot with a moving, sometimes firing input, then closes. Counts the ticks.
pub async fn play_for(mut client: GameClient, run: Duration) -> TickCount {
    let deadline = tokio::time::Instant::now() + run;
    let mut count = TickCount { first: 0, last: 0, received: 0, longest_gap: Duration::ZERO };
    let mut last_arrival = None;
    while tokio::time::Instant::now() < deadline {
        if let ServerEvent::Snapshot { tick, .. } =
            within("snapshot", client.next_event()).await.expect("server message")
        {
            let now = std::time::Instant::now();
            if let Some(previous) = last_arrival {
                count.longest_gap = count.longest_gap.max(now - previous);
            }
            last_arrival = Some(now);
            count.first = if count.first == 0 { tick } else { count.first };
            count.last = tick;
            count.received += 1;
            let step = (tick % 64) as i8;
            client.send_input(step - 32, 32 - step, (tick * 997) as u16, tick % 4 == 0).await.unwrap();
        }
    }
    assert_eq!(client.stats.desyncs, 0);
    client.close().await;
    count
}

/// Polls `condition` every 10 ms until it holds (bounded by `TIMEOUT`); returns how long that took.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = std::time::Instant::now();
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    started.elapsed()
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
    let room = the_room(server);
    let tap = room.snapshots.as_ref().expect("record_snapshots enabled").lock().unwrap();
    tap.iter().find(|s| s.tick == tick).cloned()
}

/// The one room of the server: the tests' clients quick-play, so they all land in the first room (default capacity
/// 1000). Panics unless exactly one room is open.
pub fn the_room(server: &RunningServer) -> Arc<RoomEntry> {
    let rooms = server.lobby.all();
    assert_eq!(rooms.len(), 1, "expected exactly one room, found {}", rooms.len());
    rooms[0].clone()
}

/// The counters of the server's one room (see `the_room`).
pub fn room_stats(server: &RunningServer) -> Arc<RoomStats> {
    the_room(server).stats.clone()
}

/// Players in all the server's rooms (0 when there is no room yet).
pub fn players(server: &RunningServer) -> u32 {
    server.lobby.all().iter().map(|room| room.players() as u32).sum()
}

/// One HTTP/1.1 request to the server (`Connection: close`); returns the status code and the body.
pub async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = http_with_headers(addr, method, path, "", body).await;
    (status, body)
}

/// One HTTP/1.1 request with extra header lines (each ending in `\r\n`); returns the status, the response's head
/// and its body.
pub async fn http_with_headers(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within("http", async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\n\
             {headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (status, head.to_string(), body.to_string())
    })
    .await
}

/// `http` for a JSON answer.
pub async fn http_json(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, text) = http(addr, method, path, body).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:?}"));
    (status, value)
}

/// Reads until the server closes this client; returns the close's code and reason.
pub async fn close_of(client: &mut GameClient) -> (u16, String) {
    within("close", async {
        loop {
            match client.next_message().await {
                Ok(_) => {}
                Err(skirmish::client::ClientError::Closed { code, reason }) => return (code, reason),
                Err(other) => panic!("expected a close, got {other}"),
            }
        }
    })
    .await
}

/// Bots as the tests run them in-process: quick play, 30 inputs a second, firing, seeded, no churn.
pub fn swarm_config(url: String, count: usize, seconds: f64) -> skirmish::swarm::SwarmConfig {
    skirmish::swarm::SwarmConfig {
        url,
        count,
        duration: Duration::from_secs_f64(seconds),
        ramp_per_sec: 200.0,
        input_rate: 30.0,
        hold_fire: false,
        name_prefix: "bot".into(),
        seed: 7,
        protocol_version: skirmish::protocol::PROTOCOL_VERSION,
        rooms: None,
        spectators: 0,
        churn_per_minute: 0.0,
        auth_secret: None,
        link: None,
        delay_rule: skirmish::feel::DelayRule::Adaptive,
        decode_every: 1,
    }
}
