//! Stopping the server: every client is told why (1001), a client that does not read cannot hold the stop past
//! the shutdown grace, the process exits 0 on SIGTERM, and a room thread that panicked is never taken for a clean
//! stop.

mod common;

use std::io::BufRead;
use std::time::{Duration, Instant};

use common::*;
use skirmish::client::{self, ClientError, GameClient};
use skirmish::codec;
use skirmish::config::ServerConfig;
use skirmish::protocol::ClientMessage;

/// The shutdown grace in these tests, and the slack on bounds measured against it.
const GRACE: Duration = Duration::from_millis(600);
const SLACK: Duration = Duration::from_millis(700);

fn config() -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    config.limits.shutdown_grace = GRACE;
    config
}

/// A joined client on a socket with a tiny receive window that never reads: once the server's frames fill it,
/// every write to it blocks.
async fn deaf_client(
    server: &skirmish::server::RunningServer,
) -> fastwebsockets::WebSocket<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(server.local_addr).await.unwrap();
    let mut ws = client::open_on(stream, &url(server)).await.unwrap();
    let hello = codec::encode_client(&ClientMessage::hello("deaf"));
    ws.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Owned(hello))).await.unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_client_with_1001() {
    let server = start(config()).await;
    let mut clients = Vec::new();
    for i in 0..3 {
        clients.push(connect(&server, &format!("c{i}")).await);
    }
    let stopping = tokio::spawn(server.shutdown());
    for mut client in clients {
        assert_eq!(close_of(&mut client).await, (1001, "server shutting down".into()));
    }
    within("shutdown finishes", stopping).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_cannot_hold_the_shutdown_past_its_grace() {
    let mut config = config();
    // A small send buffer and a long slow-client timeout: the deaf client's writer is blocked at shutdown, not
    // already closed.
    config.limits.send_buffer_bytes = 4096;
    config.room.slow_client_timeout = Duration::from_secs(60);
    config.limits.idle_timeout = Duration::from_secs(60);
    let server = start(config).await;
    let mut reader = connect(&server, "reader").await;
    let deaf = deaf_client(&server).await;
    // Wait until the deaf client's outbox is full and frames are being dropped: its writer is stuck.
    until("the deaf client's frames back up", || {
        room_stats(&server).frames_dropped.load(std::sync::atomic::Ordering::Relaxed) > 0
    })
    .await;
    let started = Instant::now();
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(close_of(&mut reader).await, (1001, "server shutting down".into()));
    within("shutdown finishes", stopping).await.expect("shutdown completes");
    let took = started.elapsed();
    // The stop waits for the stuck writer up to the grace (twice at most: the writer's own close flush, then the
    // connection's wait for it) and not a moment longer than that and some slack.
    assert!(took <= 2 * GRACE + SLACK, "shutdown took {took:?} with grace {GRACE:?}");
    drop(deaf);
}

/// Kills the server process if the test fails before it exits by itself.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server binary on an ephemeral port with `args`; returns it and its address.
fn spawn_server(args: &[&str]) -> (ChildGuard, String) {
    let mut guard = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_skirmish"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("server binary starts"),
    );
    let mut line = String::new();
    std::io::BufReader::new(guard.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("address line");
    (guard, addr.to_string())
}

/// Waits (bounded) for the process to exit; returns its exit code and how long that took.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> (Option<i32>, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), started.elapsed());
        }
        assert!(started.elapsed() < limit, "the server did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn the_server_process_exits_cleanly_on_sigterm_even_with_a_client_that_does_not_read() {
    let grace = format!("{}", GRACE.as_secs_f64());
    let (mut guard, addr) = spawn_server(&[
        "--shutdown-grace-secs",
        &grace,
        "--send-buffer-bytes",
        "4096",
        "--slow-client-secs",
        "60",
        "--idle-timeout-secs",
        "60",
    ]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ((code, reason), took) = runtime.block_on(async {
        let url = format!("ws://{addr}/ws");
        let mut client = GameClient::connect(&url, "last").await.expect("joins");
        // A second player that never reads, on a tiny receive window.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(2048).unwrap();
        let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
        let mut deaf = client::open_on(stream, &url).await.unwrap();
        let hello = codec::encode_client(&ClientMessage::hello("deaf"));
        deaf.write_frame(fastwebsockets::Frame::binary(fastwebsockets::Payload::Owned(hello))).await.unwrap();
        // Long enough for the deaf socket's window to fill (a few dozen frames of two moving players).
        for _ in 0..60 {
            within("snapshot", client.next_message()).await.expect("playing");
            client.send_input(100, 0, 0, false).await.unwrap();
        }
        sigterm(&guard.0);
        let closed = close_of(&mut client).await;
        let (code, took) = wait_exit(&mut guard.0, Duration::from_secs(10));
        assert_eq!(code, Some(0), "exit status 0 after a graceful shutdown");
        drop(deaf);
        (closed, took)
    });
    assert_eq!((code, reason.as_str()), (1001, "server shutting down"));
    assert!(took <= 2 * GRACE + SLACK, "the process took {took:?} to exit after the close (grace {GRACE:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicked_room_takes_only_its_clients_down_and_fails_the_shutdown() {
    let mut config = config();
    config.room.panic_at_tick = Some(20);
    let server = start(config).await;
    let mut doomed = connect(&server, "doomed").await;
    // The room panics at its tick 20; the next message its client sends finds the room gone.
    let (code, reason) = within("the crashed room's client is closed", async {
        loop {
            match doomed.next_message().await {
                Ok(_) => {
                    let _ = doomed.send_ack().await;
                }
                Err(ClientError::Closed { code, reason }) => return (code, reason),
                Err(other) => panic!("expected a close, got {other}"),
            }
        }
    })
    .await;
    assert_eq!((code, reason.as_str()), (1011, "the room stopped unexpectedly"));
    // The lobby's watcher records the panic once the room's task has ended (the client may hear of it first).
    until("the panic is counted", || server.room_panics() == 1).await;
    until("the crashed room leaves the lobby", || server.lobby.is_empty()).await;
    let outcome = tokio::spawn(server.shutdown()).await;
    let panic = outcome.expect_err("shutdown re-raises the room's panic").into_panic();
    let message = panic.downcast_ref::<String>().map(String::as_str).unwrap_or_default();
    assert_eq!(message, "injected fault: the room panics at tick 20");
}

#[test]
fn the_server_process_exits_non_zero_after_a_room_panicked() {
    // The hidden flag is the same fault injection as `RoomConfig::panic_at_tick`: the room dies, the process keeps
    // serving, and its exit status on SIGTERM says that something crashed.
    let (mut guard, addr) = spawn_server(&["--test-panic-at-tick", "10"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = GameClient::connect(&format!("ws://{addr}/ws"), "doomed").await.expect("joins");
        within("closed with 1011", async {
            loop {
                match client.next_message().await {
                    Ok(_) => {
                        let _ = client.send_ack().await;
                    }
                    Err(ClientError::Closed { code, .. }) => return assert_eq!(code, 1011),
                    Err(other) => panic!("expected a close, got {other}"),
                }
            }
        })
        .await;
    });
    sigterm(&guard.0);
    let (code, _) = wait_exit(&mut guard.0, Duration::from_secs(10));
    assert_eq!(code, Some(101), "a crashed room makes the process fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_kept_alive_http_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(ServerConfig::for_tests()).await;
    let mut stream = tokio::net::TcpStream::connect(server.local_addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    let n = within("first answer", stream.read(&mut buffer)).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"), "the connection is kept alive");
    let stopping = tokio::spawn(server.shutdown());
    // The rest of the answer may still arrive; then the server closes the connection at once instead of serving
    // on (well before the 5 s header timeout would have dropped the idle connection anyway).
    let closed = tokio::time::timeout(Duration::from_millis(1500), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the kept-alive connection was still open 1.5 s after the shutdown began");
    within("shutdown", stopping).await.unwrap();
}
