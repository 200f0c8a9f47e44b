//! The connection's timers on tokio's paused clock: a real lobby and room and a real connection
//! (`connection::serve`) joined by an in-memory pipe instead of a socket, in one runtime whose clock only moves when
//! every task waits. Each timeout is asserted to the millisecond, instantly, with the close code and reason the
//! client receives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
use skirmish::client::parse_close;
use skirmish::codec;
use skirmish::config::ServerConfig;
use skirmish::connection::{self, ConnectionContext};
use skirmish::link::DisconnectReason;
use skirmish::lobby::Lobby;
use skirmish::protocol::{ClientMessage, ServerMessage};
use skirmish::telemetry::ServerStats;
use tokio::io::DuplexStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// A room and a connection served over a pipe; `client` is the other end.
struct Harness {
    client: WebSocket<DuplexStream>,
    stats: Arc<ServerStats>,
    shutdown: watch::Sender<bool>,
    started: Instant,
}

fn harness(config: ServerConfig) -> Harness {
    // The lobby's rooms run on this test's runtime, so they tick on its paused clock too.
    let (shutdown, stop) = watch::channel(false);
    let lobby = Lobby::new(&config, tokio::runtime::Handle::current(), stop);
    let stats = Arc::new(ServerStats::default());
    let context = ConnectionContext::new(&config, lobby, stats.clone(), None);
    let (server_end, client_end) = tokio::io::duplex(1 << 16);
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    tokio::spawn(connection::serve(WebSocket::after_handshake(server_end, Role::Server), peer, context));
    let mut client = WebSocket::after_handshake(client_end, Role::Client);
    // The tests answer pings themselves (or not), and read the close frame themselves.
    client.set_auto_pong(false);
    client.set_auto_close(false);
    Harness { client, stats, shutdown, started: Instant::now() }
}

impl Harness {
    async fn send(&mut self, message: &ClientMessage) {
        self.client.write_frame(Frame::binary(Payload::Owned(codec::encode_client(message)))).await.unwrap();
    }

    async fn hello(&mut self) {
        self.send(&ClientMessage::hello("timed")).await;
        let frame = self.client.read_frame().await.unwrap();
        assert!(matches!(codec::decode_server(&frame.payload), Ok(ServerMessage::Welcome(_))));
    }

    /// Reads frames until the close frame; returns when the pings and the close came (since the start), and the
    /// close's code and reason. With `pong`, answers each ping.
    async fn until_close(&mut self, pong: bool) -> (Vec<Duration>, Duration, (u16, String)) {
        let mut pings = Vec::new();
        loop {
            let frame = self.client.read_frame().await.expect("a close frame before the end");
            match frame.opcode {
                OpCode::Ping => {
                    pings.push(self.started.elapsed());
                    if pong {
                        let payload = frame.payload.to_vec();
                        self.client.write_frame(Frame::pong(Payload::Owned(payload))).await.unwrap();
                    }
                }
                OpCode::Close => return (pings, self.started.elapsed(), parse_close(&frame.payload)),
                _ => {}
            }
        }
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

#[tokio::test(start_paused = true)]
async fn no_hello_is_closed_exactly_at_the_hello_timeout() {
    let mut config = ServerConfig::for_tests();
    config.limits.hello_timeout = ms(2500);
    let mut h = harness(config);
    let (pings, closed, close) = h.until_close(false).await;
    assert_eq!(close, (1008, "no hello within the time limit".into()));
    assert_eq!(closed, ms(2500));
    assert_eq!(pings, [], "the hello timeout comes before any ping (default interval 5 s)");
    assert_eq!(h.stats.disconnects.get(DisconnectReason::HelloTimeout), 1);
    let _ = h.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_pinged_each_interval_and_closed_at_the_idle_timeout() {
    let mut config = ServerConfig::for_tests();
    config.limits.ping_interval = ms(4000);
    config.limits.idle_timeout = ms(10_000);
    let mut h = harness(config);
    // The hello is the last thing heard (the clock stands still while it is sent); snapshots keep flowing to the
    // client all along.
    let heard = h.started.elapsed();
    h.hello().await;
    let (pings, closed, close) = h.until_close(false).await;
    assert_eq!(pings, [heard + ms(4000), heard + ms(8000)], "a ping after each interval of silence");
    assert_eq!(closed, heard + ms(10_000));
    assert_eq!(close, (1001, "idle timeout: nothing received for 10 s".into()));
    assert_eq!(h.stats.disconnects.get(DisconnectReason::IdleTimeout), 1);
    let _ = h.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn answering_pings_keeps_a_silent_client_alive_and_a_late_pong_does_not() {
    let mut config = ServerConfig::for_tests();
    config.limits.ping_interval = ms(1000);
    config.limits.idle_timeout = ms(3000);
    let mut h = harness(config);
    h.hello().await;
    // Pongs alone, for a minute: never idle.
    let alive = tokio::time::timeout(ms(60_000), h.until_close(true)).await;
    assert!(alive.is_err(), "a client answering pings was closed: {alive:?}");
    assert_eq!(h.stats.disconnects.get(DisconnectReason::IdleTimeout), 0);
    // Then silence: closed one idle timeout after the last pong. Pings came each second after the hello (sent at
    // 0), each answered at once, so the last one answered was the ping at 60 s (the minute ran from the welcome).
    let last_pong = ms(60_000);
    let (_, closed, close) = h.until_close(false).await;
    assert_eq!(closed, last_pong + ms(3000));
    assert_eq!(close.0, 1001);
    let _ = h.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn a_burst_is_trimmed_and_a_sustained_flood_is_closed_at_the_exact_message() {
    let mut config = ServerConfig::for_tests();
    config.limits.input_rate = 90;
    config.limits.input_burst = 45;
    let mut h = harness(config);
    h.hello().await;
    // The bucket is full again by the welcome (a tick after the hello took a token). The clock stands still while
    // we send, so no token comes back: the burst is admitted, the next `rate` are dropped, and the one after that
    // is a flood.
    for _ in 0..45 + 90 + 1 {
        h.send(&ClientMessage::Ack { tick: 0 }).await;
    }
    let (_, closed, close) = h.until_close(false).await;
    assert_eq!(close, (1008, "message flood: more than 180 messages per second".into()));
    assert_eq!(h.stats.messages_dropped.load(std::sync::atomic::Ordering::Relaxed), 90);
    assert!(closed < ms(100), "closed at once ({closed:?})");
    assert_eq!(h.stats.disconnects.get(DisconnectReason::MessageFlood), 1);
    let _ = h.shutdown.send(true);
}

#[tokio::test(start_paused = true)]
async fn one_message_short_of_the_flood_is_only_trimmed() {
    let mut config = ServerConfig::for_tests();
    config.limits.input_rate = 90;
    config.limits.input_burst = 45;
    let mut h = harness(config);
    h.hello().await;
    for _ in 0..45 + 90 {
        h.send(&ClientMessage::Ack { tick: 0 }).await;
    }
    // A second later the window starts over and tokens are back: the client plays on.
    tokio::time::sleep(ms(1000)).await;
    h.send(&ClientMessage::Ping { nonce: 7 }).await;
    loop {
        let frame = h.client.read_frame().await.unwrap();
        assert_ne!(frame.opcode, OpCode::Close, "{:?}", parse_close(&frame.payload));
        if let Ok(ServerMessage::Pong { nonce }) = codec::decode_server(&frame.payload) {
            assert_eq!(nonce, 7);
            break;
        }
    }
    assert_eq!(h.stats.messages_dropped.load(std::sync::atomic::Ordering::Relaxed), 90);
    assert_eq!(h.stats.disconnects.get(DisconnectReason::MessageFlood), 0);
    let _ = h.shutdown.send(true);
}
