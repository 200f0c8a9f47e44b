//! `GET /metrics` over real HTTP, parsed by a Prometheus text parser (the prometheus-parse crate): the counters move
//! as clients join, play, send garbage and leave; a closed room's series go while the process totals stay; and
//! `--metrics-token` guards `/metrics` and the dashboard while `/healthz` keeps answering load balancers.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use prometheus_parse::{HistogramCount, Sample, Scrape, Value};
use skirmish::client::GameClient;
use skirmish::config::ServerConfig;
use skirmish::link::DisconnectReason;
use skirmish::protocol::Join;
use skirmish::telemetry::access::MetricsToken;

/// One scrape: the text as served and as parsed.
struct Metrics {
    text: String,
    scrape: Scrape,
}

impl Metrics {
    fn parse(text: String) -> Metrics {
        let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).expect("the exposition parses");
        // The parser skips lines it cannot read instead of failing: every sample line must be one it read.
        let sample_lines = text.lines().filter(|line| !line.is_empty() && !line.starts_with('#')).count();
        let parsed: usize = scrape
            .samples
            .iter()
            .map(|sample| match &sample.value {
                Value::Histogram(buckets) => buckets.len(),
                _ => 1,
            })
            .sum();
        assert_eq!(parsed, sample_lines, "some sample lines did not parse:\n{text}");
        for line in text.lines().filter(|line| !line.is_empty() && !line.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(name.starts_with("skirmish_"), "{line}");
        }
        Metrics { text, scrape }
    }

    fn samples<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> + 'a {
        self.scrape.samples.iter().filter(move |sample| {
            sample.metric == name
                && sample.labels.len() == labels.len()
                && labels.iter().all(|(key, value)| sample.labels.get(key) == Some(value))
        })
    }

    /// The value of a counter, gauge or untyped sample (`_sum`, `_count`) with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples(name, labels).find_map(|sample| match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{}", self.text))
    }

    /// A counter, which must be typed as one.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.samples(name, labels).next().map(|sample| &sample.value) {
            Some(Value::Counter(v)) => *v,
            other => panic!("{name}{labels:?} is not a counter: {other:?}\n{}", self.text),
        }
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<HistogramCount> {
        match self.samples(name, labels).next().map(|sample| &sample.value) {
            Some(Value::Histogram(buckets)) => buckets.clone(),
            other => panic!("{name}{labels:?} is not a histogram: {other:?}\n{}", self.text),
        }
    }

    /// Whether any series is labelled with this room.
    fn mentions_room(&self, id: &str) -> bool {
        self.scrape.samples.iter().any(|sample| sample.labels.get("room") == Some(id))
    }
}

async fn scrape_with(addr: SocketAddr, headers: &str) -> Metrics {
    let (status, head, body) = http_with_headers(addr, "GET", "/metrics", headers, "").await;
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    Metrics::parse(body)
}

async fn scrape(addr: SocketAddr) -> Metrics {
    scrape_with(addr, "").await
}

/// Scrapes until `condition` holds (bounded by `TIMEOUT`); returns that scrape.
async fn scrape_until(addr: SocketAddr, what: &str, condition: impl Fn(&Metrics) -> bool) -> Metrics {
    within(what, async {
        loop {
            let metrics = scrape(addr).await;
            if condition(&metrics) {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Reads `count` snapshots, acknowledging each so that the room moves on to deltas.
async fn play(client: &mut GameClient, count: u32) {
    for _ in 0..count {
        next_snapshot(client).await;
        client.send_ack().await.expect("ack");
    }
}

async fn create_room(addr: SocketAddr, name: &str) -> String {
    let (status, room) = http_json(addr, "POST", "/rooms", &format!(r#"{{"name": "{name}"}}"#)).await;
    assert_eq!(status, 201, "{room}");
    room["id"].as_str().expect("an id").to_string()
}

async fn join(addr: SocketAddr, name: &str, room: &str) -> GameClient {
    let url = format!("ws://{addr}/ws");
    within("join", GameClient::connect_as(&url, name, Join::Room { id: room.to_string() })).await.expect("joins")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_as_clients_join_misbehave_and_leave_and_closed_rooms_leave_only_totals() {
    let mut config = ServerConfig::for_tests();
    config.room.empty_grace = Duration::from_secs(1);
    let server = start(config).await;
    let addr = server.local_addr;

    let before = scrape(addr).await;
    assert_eq!(before.get("skirmish_rooms", &[]), 0.0);
    assert_eq!(before.get("skirmish_websockets", &[]), 0.0);
    assert_eq!(before.get("skirmish_players", &[]), 0.0);
    assert_eq!(before.counter("skirmish_disconnects_total", &[("reason", "malformed_message")]), 0.0);
    // Every typed reason has its series from the start, so that rates over them work from the first scrape.
    let disconnect_series = before.scrape.samples.iter().filter(|s| s.metric == "skirmish_disconnects_total").count();
    assert_eq!(disconnect_series, DisconnectReason::ALL.len());
    assert_eq!(before.histogram("skirmish_tick_duration_seconds", &[]).last().map(|b| b.count), Some(0.0));

    // Two rooms, a player in each, playing long enough for full snapshots and deltas.
    let (first, second) = (create_room(addr, "first").await, create_room(addr, "second").await);
    let mut alice = join(addr, "alice", &first).await;
    let mut bob = join(addr, "bob", &second).await;
    play(&mut alice, 10).await;
    play(&mut bob, 10).await;
    // A burst of inputs between two ticks overflows the per-client queue (8) and leaves a backlog to skip.
    for _ in 0..40 {
        alice.send_input(1, 0, 0, false).await.expect("input");
    }
    let room = [("room", first.as_str())];
    let playing = scrape_until(addr, "the burst is counted", |m| {
        m.value("skirmish_room_inputs_rejected_total", &[("room", &first), ("reason", "queue_full")]) > Some(0.0)
            && m.value("skirmish_room_inputs_rejected_total", &[("room", &first), ("reason", "backlog")]) > Some(0.0)
    })
    .await;
    assert_eq!(playing.get("skirmish_rooms", &[]), 2.0);
    assert_eq!(playing.counter("skirmish_rooms_opened_total", &[]), 2.0);
    assert_eq!(playing.get("skirmish_players", &[]), 2.0);
    assert_eq!(playing.get("skirmish_room_players", &room), 1.0);
    assert_eq!(playing.get("skirmish_room_spectators", &room), 0.0);
    assert_eq!(playing.get("skirmish_room_held_seats", &room), 0.0);
    assert_eq!(playing.get("skirmish_websockets", &[]), 2.0);
    assert!(playing.get("skirmish_connections", &[]) >= 3.0, "two WebSockets and this scrape");
    assert_eq!(
        playing
            .get("skirmish_room_info", &[("room", &first), ("name", "first"), ("map", "arena"), ("private", "false")]),
        1.0
    );
    for kind in ["full", "delta"] {
        let sent = playing.counter("skirmish_room_snapshots_sent_total", &[("room", &first), ("kind", kind)]);
        assert!(sent >= 1.0, "{kind} snapshots: {sent}");
        assert!(playing.counter("skirmish_snapshots_sent_total", &[("kind", kind)]) >= 2.0, "{kind}: both rooms");
    }
    assert!(playing.counter("skirmish_room_frames_sent_total", &room) >= 10.0);
    assert!(playing.counter("skirmish_room_sent_bytes_total", &room) > 0.0);
    assert!(playing.counter("skirmish_frames_received_total", &[]) >= 60.0, "hellos, acks and inputs");
    assert!(playing.counter("skirmish_received_bytes_total", &[]) > 60.0);
    assert!(playing.counter("skirmish_inputs_rejected_total", &[("reason", "queue_full")]) > 0.0);
    assert!(playing.counter("skirmish_room_ticks_total", &room) >= 10.0);
    // The room's tick histogram: cumulative buckets in seconds, ending with +Inf at the count.
    let ticks = playing.histogram("skirmish_room_tick_duration_seconds", &room);
    let bounds: Vec<f64> = ticks.iter().map(|b| b.less_than).collect();
    assert_eq!(bounds, [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, f64::INFINITY]);
    assert!(ticks.windows(2).all(|pair| pair[0].count <= pair[1].count), "{ticks:?}");
    let count = playing.get("skirmish_room_tick_duration_seconds_count", &room);
    assert!(count >= 10.0 && ticks.last().map(|b| b.count) == Some(count), "{ticks:?} count {count}");
    assert!(playing.get("skirmish_room_tick_duration_seconds_sum", &room) > 0.0);

    // Garbage closes the sender with 1007 and counts a malformed_message disconnect.
    let mut mallory = join(addr, "mallory", &second).await;
    mallory.send_bytes(vec![0x92, 0x09, 0x00]).await.expect("sent");
    assert_eq!(close_of(&mut mallory).await.0, 1007);
    let reason = [("reason", "malformed_message")];
    scrape_until(addr, "the malformed message is counted", |m| {
        m.value("skirmish_disconnects_total", &reason) == Some(1.0)
    })
    .await;

    // Alice leaves: her room closes after its grace, and every series labelled with it goes; Bob's room stays.
    let sent_while_playing = playing.counter("skirmish_frames_sent_total", &[]);
    alice.leave().await;
    let closed = scrape_until(addr, "the first room closes", |m| m.get("skirmish_rooms", &[]) == 1.0).await;
    assert!(!closed.mentions_room(&first), "a closed room's series are gone:\n{}", closed.text);
    assert!(closed.mentions_room(&second));
    assert_eq!(closed.counter("skirmish_rooms_closed_total", &[]), 1.0);
    assert_eq!(closed.get("skirmish_players", &[]), 1.0);
    // What it counted stays in the process totals.
    assert!(closed.counter("skirmish_frames_sent_total", &[]) >= sent_while_playing);
    assert!(closed.counter("skirmish_inputs_rejected_total", &[("reason", "queue_full")]) > 0.0);
    assert!(closed.get("skirmish_tick_duration_seconds_count", &[]) >= count);

    // Bob leaves too. With nothing running any more, the totals add up exactly and /healthz tells the same story.
    bob.leave().await;
    let after = scrape_until(addr, "every room closes and every socket goes", |m| {
        m.get("skirmish_rooms", &[]) == 0.0 && m.get("skirmish_websockets", &[]) == 0.0
    })
    .await;
    assert!(!after.mentions_room(&second));
    assert!(!after.scrape.samples.iter().any(|s| s.metric.starts_with("skirmish_room_") && !s.labels.is_empty()));
    let total = |name: &str, labels: &[(&str, &str)]| after.counter(name, labels);
    assert_eq!(total("skirmish_rooms_closed_total", &[]), 2.0);
    assert_eq!(
        total("skirmish_frames_sent_total", &[]),
        total("skirmish_snapshots_sent_total", &[("kind", "full")])
            + total("skirmish_snapshots_sent_total", &[("kind", "delta")])
    );
    assert_eq!(after.get("skirmish_players", &[]), 0.0);
    assert_eq!(total("skirmish_disconnects_total", &reason), 1.0);
    let (status, health) = http_json(addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["rooms_open"], 0);
    assert_eq!(health["totals"]["rooms_closed"], 2);
    assert_eq!(health["totals"]["frames_sent"].as_f64(), Some(total("skirmish_frames_sent_total", &[])));
    assert_eq!(health["totals"]["bytes_sent"].as_f64(), Some(total("skirmish_sent_bytes_total", &[])));
    assert_eq!(
        health["totals"]["snapshots_full"].as_f64(),
        Some(total("skirmish_snapshots_sent_total", &[("kind", "full")]))
    );
    assert_eq!(health["disconnects"]["malformed_message"], 1);
    let received = total("skirmish_received_bytes_total", &[]);
    assert!(health["bytes_received"].as_f64() >= Some(received), "{health}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_the_dashboard_data_are_the_same_json() {
    let server = start(ServerConfig::for_tests()).await;
    let addr = server.local_addr;
    let mut client = connect(&server, "solo").await;
    next_snapshot(&mut client).await;
    let (status, health) = http_json(addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200);
    let (status, data) = http_json(addr, "GET", "/dashboard/data", "").await;
    assert_eq!(status, 200);
    let keys = |value: &serde_json::Value| value.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&health), keys(&data));
    assert_eq!(keys(&health["rooms"][0]), keys(&data["rooms"][0]));
    // The keys /healthz always had are all there, with the room's figures.
    for key in [
        "status",
        "rooms_open",
        "max_rooms",
        "room_panics",
        "players",
        "spectators",
        "held_seats",
        "resumes",
        "resumes_refused",
        "resumes_expired",
        "chat_lines",
        "connections",
        "websockets",
        "violations",
        "messages_dropped",
        "connections_refused",
        "tick_overruns",
        "tick_slots_skipped",
        "frames_sent",
        "frames_dropped",
        "bytes_sent",
        "worst_tick_micros_p99",
        "worst_max_tick_micros",
        "disconnects",
        "rooms",
    ] {
        assert!(health.get(key).is_some(), "/healthz lost {key}: {health}");
    }
    for key in [
        "id",
        "name",
        "private",
        "tick",
        "tick_rate",
        "players",
        "spectators",
        "max_players",
        "tick_overruns",
        "tick_slots_skipped",
        "frames_sent",
        "frames_dropped",
        "bytes_sent",
        "slow_clients_closed",
        "inputs_repeated",
        "inputs_skipped",
        "held_seats",
        "seats_detached",
        "resumes",
        "resumes_refused",
        "resumes_expired",
        "chat_lines",
        "last_tick_micros",
        "max_tick_micros",
        "tick_micros_p50",
        "tick_micros_p99",
    ] {
        assert!(health["rooms"][0].get(key).is_some(), "/healthz rooms lost {key}: {health}");
    }
    assert_eq!((health["players"].clone(), health["rooms"][0]["players"].clone()), (1.into(), 1.into()));
    assert_eq!(health["disconnects"].as_object().map(|d| d.len()), Some(DisconnectReason::ALL.len()));
    client.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_token_guards_metrics_and_the_dashboard_and_healthz_says_only_ok_without_it() {
    const TOKEN: &str = "metrics-token-for-tests-0123";
    let mut config = ServerConfig::for_tests();
    config.metrics_token = Some(MetricsToken::new(TOKEN).expect("a valid token"));
    let server = start(config).await;
    let addr = server.local_addr;
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");

    for path in ["/metrics", "/dashboard", "/dashboard/data"] {
        let (status, head, _) = http_with_headers(addr, "GET", path, "", "").await;
        assert_eq!(status, 401, "{path}: {head}");
        assert!(head.contains("WWW-Authenticate: Bearer") || head.contains("www-authenticate: Bearer"), "{head}");
        let (status, _, _) =
            http_with_headers(addr, "GET", path, "Authorization: Bearer wrong-token-0123456789\r\n", "").await;
        assert_eq!(status, 401, "{path} with a wrong token");
        let (status, _, _) = http_with_headers(addr, "GET", &format!("{path}?token={TOKEN}x"), "", "").await;
        assert_eq!(status, 401, "{path} with a longer token");
    }
    let metrics = scrape_with(addr, &bearer).await;
    assert_eq!(metrics.get("skirmish_rooms", &[]), 0.0);
    let (status, _, body) = http_with_headers(addr, "GET", &format!("/metrics?token={TOKEN}"), "", "").await;
    assert_eq!(status, 200);
    Metrics::parse(body);

    // /healthz answers every load balancer, but says more only to whoever shows the token.
    let (status, bare) = http(addr, "GET", "/healthz", "").await;
    assert_eq!((status, bare.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, _, full) = http_with_headers(addr, "GET", "/healthz", &bearer, "").await;
    let full: serde_json::Value = serde_json::from_str(&full).expect("JSON");
    assert_eq!((status, full["status"].as_str(), full["rooms_open"].as_u64()), (200, Some("ok"), Some(0)));
    let (status, _, data) = http_with_headers(addr, "GET", &format!("/dashboard/data?token={TOKEN}"), "", "").await;
    let data: serde_json::Value = serde_json::from_str(&data).expect("JSON");
    assert_eq!((status, data["max_rooms"].clone()), (200, full["max_rooms"].clone()));

    // The page itself, once its file is in client/ (the build embeds it); 404 until then, never 401 with the token.
    let (status, _, page) = http_with_headers(addr, "GET", &format!("/dashboard?token={TOKEN}"), "", "").await;
    let page_exists = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("client/dashboard.html").exists();
    match page_exists {
        true => assert!(status == 200 && page.contains("<html"), "{status}: {page}"),
        false => assert_eq!(status, 404),
    }
    server.shutdown().await;
}
