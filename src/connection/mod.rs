//! One WebSocket connection: a reader that decodes, validates and forwards client messages to the room, and a writer
//! task (`writer`) that drains the client's bounded outbox onto the socket. fastwebsockets does the upgrade; the
//! reader parses client frames itself (`frames`) and the writer frames what the server sends itself.
//!
//! A connection's failure is logged here and ends only this connection. Everything the client sends is checked
//! before it reaches the room: masking (RFC 6455 section 5.1), frame and message size, control frame size, frame
//! type, MessagePack shape, value ranges, the hello handshake, sequence order and message rate. Each violation
//! closes with the matching code and a reason, logs one warning with the peer, and is counted.
//!
//! A close is carried out the way RFC 6455 section 7.1.1 intends: the close message and frame go out, then the
//! socket is half-closed and drained for a bounded time, so a client that is still writing reads the reason instead
//! of a TCP reset (closing a socket with unread bytes makes the kernel send one, which discards what the peer has not
//! read yet).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastwebsockets::WebSocket;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadHalf};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tracing::{debug, warn};

use crate::auth::Authenticator;
use crate::codec::{self, close_code, DecodeError};
use crate::config::{Limits, ServerConfig};
use crate::directory::Directory;
use crate::link::{ClientLink, CloseReason, DisconnectReason, Outgoing};
use crate::lobby::Lobby;
use crate::protocol::{ClientMessage, Join, Role, ServerMessage, PROTOCOL_VERSION};
use crate::recording::format::Direction;
use crate::recording::FrameLog;
use crate::room::RoomCommand;
use crate::session::{self, Refusal, Session};
use crate::telemetry::ServerStats;

pub mod frames;
mod writer;

use frames::{FrameError, FrameReader, Opcode};
use writer::{write_loop, WriterLimits};

/// What a connection runs over: an upgraded HTTP connection in the server, an in-memory pipe in tests.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

/// What the connection needs from the server.
#[derive(Clone)]
pub struct ConnectionContext {
    pub lobby: Arc<Lobby>,
    /// Join tokens are required when set.
    pub auth: Option<Arc<Authenticator>>,
    pub limits: Limits,
    pub stats: Arc<ServerStats>,
    /// The room directory shared with other processes (`--redis`).
    pub directory: Option<Arc<Directory>>,
}

impl ConnectionContext {
    pub fn new(
        config: &ServerConfig,
        lobby: Arc<Lobby>,
        stats: Arc<ServerStats>,
        directory: Option<Arc<Directory>>,
    ) -> ConnectionContext {
        ConnectionContext { lobby, auth: config.auth.clone(), limits: config.limits.clone(), stats, directory }
    }
}

/// When the peer was last heard from, in milliseconds since the connection opened; shared by reader and writer.
#[derive(Debug)]
struct LastHeard {
    opened: Instant,
    millis: AtomicU64,
}

impl LastHeard {
    fn new() -> LastHeard {
        LastHeard { opened: Instant::now(), millis: AtomicU64::new(0) }
    }

    fn touch(&self) {
        self.millis.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn at(&self) -> Instant {
        self.opened + Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }
}

/// A token bucket over client messages: `rate` per second on average, bursts of `burst`.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    refilled: Instant,
    window_start: Instant,
    dropped_in_window: u32,
}

/// The bucket's verdict on one message.
#[derive(Debug, PartialEq, Eq)]
enum Admission {
    Admit,
    /// Over the rate: the message is dropped.
    Drop,
    /// Over twice the rate for a whole second: the client is flooding.
    Flood,
}

impl TokenBucket {
    fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket::with_rate(f64::from(rate), burst, now)
    }

    fn with_rate(rate: f64, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: f64::from(burst),
            rate,
            burst: f64::from(burst),
            refilled: now,
            window_start: now,
            dropped_in_window: 0,
        }
    }

    fn admit(&mut self, now: Instant) -> Admission {
        let elapsed = (now - self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if now - self.window_start >= Duration::from_secs(1) {
            self.window_start = now;
            self.dropped_in_window = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admission::Admit;
        }
        self.dropped_in_window += 1;
        if f64::from(self.dropped_in_window) > self.rate {
            Admission::Flood
        } else {
            Admission::Drop
        }
    }
}

/// Why the reader stopped.
#[derive(Debug)]
enum ReadEnd {
    /// The peer sent a close frame: it is leaving, unless it closed with 4100 to keep its seat.
    PeerClosed { keep_seat: bool },
    /// The stream ended without a close frame: the peer vanished (its seat is held for a resume).
    StreamEnded,
    /// The server closed it (shutdown, slow client); the writer already has the reason.
    ServerClosed,
    /// The peer broke a rule, or the room refused it: close with this reason.
    Violation(CloseReason),
    /// The transport failed (reset, broken frame stream).
    Transport(String),
}

/// The close of a hello sent to another process: the redirect message first, then 4014.
fn redirect(url: String, join: Join) -> CloseReason {
    let reason = format!("moved to {url}");
    let preface = codec::encode_server(&ServerMessage::Redirect { url, join });
    CloseReason { preface: Some(preface), ..CloseReason::new(DisconnectReason::Redirected, reason) }
}

/// Serves one upgraded WebSocket until it closes, inside a span naming the peer and, once it has a seat, the
/// room, the role, the player and its name: every line logged about the connection carries them.
pub async fn serve<S: Transport>(ws: WebSocket<S>, peer: SocketAddr, context: ConnectionContext) {
    let span = tracing::info_span!(
        "connection",
        %peer,
        room = tracing::field::Empty,
        role = tracing::field::Empty,
        player = tracing::field::Empty,
        name = tracing::field::Empty,
    );
    tracing::Instrument::instrument(serve_in_span(ws, peer, context), span).await
}

async fn serve_in_span<S: Transport>(ws: WebSocket<S>, peer: SocketAddr, context: ConnectionContext) {
    // fastwebsockets did the upgrade; from here the connection reads client frames itself (`frames`, with a buffer
    // sized for this protocol's small messages) and the writer frames what the server sends (`write_frame`).
    let (read, write) = tokio::io::split(ws.into_inner());
    let read = FrameReader::new(read, context.limits.max_message_bytes, frames::SERVER_BUFFER);
    let (link, outbox_rx, close_rx) = ClientLink::new(context.limits.outbox_frames);
    let last_heard = Arc::new(LastHeard::new());
    // `--log-frames`: this peer's frames, both ways, go to a file.
    let frame_log = context.lobby.recorder().and_then(|recorder| recorder.frame_log(peer));
    let writer = tokio::spawn(write_loop(
        write,
        outbox_rx,
        close_rx.clone(),
        link.closer.clone(),
        last_heard.clone(),
        WriterLimits::from(&context.limits),
        frame_log.clone(),
    ));

    let bucket = TokenBucket::new(context.limits.input_rate, context.limits.input_burst, Instant::now());
    let mut reader = Reader {
        read,
        context: &context,
        link: &link,
        peer,
        session: None,
        last_seq: 0,
        last_heard: &last_heard,
        bucket,
        chat_bucket: TokenBucket::with_rate(context.limits.chat_per_second, context.limits.chat_burst, Instant::now()),
        frame_log: frame_log.clone(),
    };
    let end = reader.run(close_rx.clone()).await;
    let Reader { read, session, .. } = reader;
    match &end {
        // Already set: the echo of the peer's close frame, or the server's own reason.
        ReadEnd::PeerClosed { .. } | ReadEnd::StreamEnded | ReadEnd::ServerClosed => {}
        ReadEnd::Violation(reason) => {
            if reason.kind.is_misbehaviour() {
                context.stats.violations.fetch_add(1, Ordering::Relaxed);
            }
            link.close(reason.clone());
        }
        ReadEnd::Transport(error) => {
            link.close(CloseReason::new(DisconnectReason::TransportError, error.clone()));
        }
    }
    // A stream that simply ended (no close frame, no reason yet) is the peer leaving.
    link.close(CloseReason::new(DisconnectReason::PeerClosed, ""));
    if let Some(session) = session {
        let client = session.key;
        let reason = close_rx.borrow().clone();
        let command = match keeps_seat(&end, reason.as_ref()) {
            true => RoomCommand::Detach { client },
            false => RoomCommand::Leave { client },
        };
        session.send(command).await;
    }
    // The first reason set is the one the client receives; it is logged and counted once, here.
    if let Some(reason) = close_rx.borrow().clone() {
        context.stats.disconnects.record(reason.kind);
        let kind = reason.kind.name();
        if reason.kind.is_misbehaviour() {
            warn!(%peer, kind, code = reason.code, reason = %reason.reason, "closing misbehaving client");
        } else {
            debug!(%peer, kind, code = reason.code, reason = %reason.reason, "connection closed");
        }
    }
    // Let the writer send its close frame; a peer that never reads cannot hold the task longer than this.
    drop(link);
    let _ = timeout(context.limits.shutdown_grace, writer).await;
    if let Some(log) = &frame_log {
        log.close();
    }
    linger(read.into_inner(), context.limits.close_linger).await;
}

/// After the close frame went out (and the writer half-closed the socket): reads and discards what the peer still
/// sends until it closes its side or `limit` passes, so the socket is never closed with unread bytes in it.
async fn linger<R: AsyncRead + Unpin>(mut read: R, limit: Duration) {
    let mut scratch = vec![0u8; 4096];
    let _ = timeout(limit, async { while let Ok(1..) = read.read(&mut scratch).await {} }).await;
}

/// Whether a connection that ended this way keeps its player's seat for a resume: a socket that vanished, timed out
/// or stalled does; a client that said goodbye (unless with 4100), broke a rule or was let go by the server does not.
fn keeps_seat(end: &ReadEnd, reason: Option<&CloseReason>) -> bool {
    match end {
        ReadEnd::PeerClosed { keep_seat } => *keep_seat,
        ReadEnd::StreamEnded | ReadEnd::Transport(_) => true,
        ReadEnd::ServerClosed => {
            reason.is_some_and(|r| matches!(r.kind, DisconnectReason::IdleTimeout | DisconnectReason::SlowClient))
        }
        ReadEnd::Violation(_) => false,
    }
}

struct Reader<'a, S> {
    read: FrameReader<ReadHalf<S>>,
    context: &'a ConnectionContext,
    link: &'a ClientLink,
    peer: SocketAddr,
    session: Option<Session>,
    last_seq: u32,
    last_heard: &'a LastHeard,
    bucket: TokenBucket,
    /// Chat lines: a separate, much smaller bucket (a line beyond it closes the connection).
    chat_bucket: TokenBucket,
    /// `--log-frames`: every frame read is logged here, before it is checked (the one that broke a rule included).
    frame_log: Option<FrameLog>,
}

impl<S: Transport> Reader<'_, S> {
    async fn run(&mut self, close_rx: watch::Receiver<Option<CloseReason>>) -> ReadEnd {
        // Built once, not per message: a fresh watch future and timer per message were a visible share of the
        // server's CPU at 30 messages per second per client.
        let hello_deadline = tokio::time::sleep(self.context.limits.hello_timeout);
        let closed = closing(close_rx);
        tokio::pin!(hello_deadline, closed);
        // Resolves when the room's queue is gone: armed once the client has a room. A room that closes normally
        // has closed its clients first (that reason wins); one that panicked could not, and this notices it.
        let mut room_gone: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(std::future::pending());
        let mut armed = false;
        loop {
            if !armed {
                if let Some(session) = &self.session {
                    let commands = session.room.commands.clone();
                    room_gone = Box::pin(async move { commands.closed().await });
                    armed = true;
                }
            }
            let message = tokio::select! {
                message = self.next_message() => message,
                _ = &mut closed => return ReadEnd::ServerClosed,
                _ = &mut room_gone => {
                    return violation(DisconnectReason::RoomCrashed, "the room stopped unexpectedly");
                }
                _ = &mut hello_deadline, if self.session.is_none() => {
                    return violation(DisconnectReason::HelloTimeout, "no hello within the time limit");
                }
            };
            let bytes = match message {
                Ok(bytes) => bytes,
                Err(end) => return end,
            };
            let message = match codec::decode_client(&bytes, self.context.limits.max_message_bytes) {
                Ok(message) => message,
                Err(error) => return decode_violation(&error),
            };
            match self.bucket.admit(Instant::now()) {
                Admission::Admit => {}
                Admission::Drop => {
                    self.context.stats.messages_dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Admission::Flood => {
                    let rate = self.context.limits.input_rate;
                    return violation(
                        DisconnectReason::MessageFlood,
                        format!("message flood: more than {} messages per second", 2 * rate),
                    );
                }
            }
            if let Err(end) = self.handle(message).await {
                return end;
            }
        }
    }

    /// Reads the next complete binary message, answering pings and handling close frames on the way.
    async fn next_message(&mut self) -> Result<Vec<u8>, ReadEnd> {
        let limit = self.context.limits.max_message_bytes;
        let mut message: Vec<u8> = Vec::new();
        let mut fragmented = false;
        loop {
            let frame = self.read.next_frame().await.map_err(|error| read_error(error, limit))?;
            self.last_heard.touch();
            if let Some(log) = &self.frame_log {
                log.record(Direction::In, frame.opcode as u8, frame.fin, &[frame.payload]);
            }
            self.context.stats.frames_received.fetch_add(1, Ordering::Relaxed);
            self.context.stats.bytes_received.fetch_add(frame.payload.len() as u64, Ordering::Relaxed);
            if !frame.masked {
                return Err(violation(DisconnectReason::ProtocolError, "client frames must be masked"));
            }
            match frame.opcode {
                Opcode::Binary | Opcode::Continuation => {
                    if (frame.opcode == Opcode::Continuation) != fragmented {
                        return Err(violation(DisconnectReason::ProtocolError, "unexpected continuation"));
                    }
                    if message.len() + frame.payload.len() > limit {
                        let size = message.len() + frame.payload.len();
                        return Err(decode_violation(&DecodeError::TooLarge { size, limit }));
                    }
                    message.extend_from_slice(frame.payload);
                    if frame.fin {
                        return Ok(message);
                    }
                    fragmented = true;
                }
                Opcode::Text if frame.fin && std::str::from_utf8(frame.payload).is_err() => {
                    return Err(violation(DisconnectReason::MalformedMessage, "text message is not valid UTF-8"));
                }
                Opcode::Text => {
                    return Err(violation(
                        DisconnectReason::UnsupportedData,
                        "text messages are not accepted; send binary MessagePack",
                    ));
                }
                Opcode::Ping => {
                    let _ = self.link.outbox.try_send(Outgoing::Pong(frame.payload.to_vec()));
                }
                Opcode::Pong => {}
                Opcode::Close => {
                    let code = peer_close_code(frame.payload)?;
                    self.link.close(CloseReason::echo());
                    return Err(ReadEnd::PeerClosed { keep_seat: code == Some(close_code::KEEP_SEAT) });
                }
            }
        }
    }

    /// Acts on one decoded message: the hello admits the client, everything after it becomes a room command.
    async fn handle(&mut self, message: ClientMessage) -> Result<(), ReadEnd> {
        // Deciding is synchronous and only the two waits are futures, the hello's boxed: this future is part of the
        // connection's task for its whole life, and a message or an admission held across an await would make it
        // that much larger.
        match self.step(message)? {
            Step::Done => Ok(()),
            Step::Hello { name, join } => Box::pin(self.admit(name, join)).await,
            Step::Command(command) => {
                let sent = match &self.session {
                    Some(session) => session.send(command).await,
                    None => false,
                };
                if sent {
                    return Ok(());
                }
                // The room's queue is gone without a close for this client: the room stopped unexpectedly.
                Err(violation(DisconnectReason::RoomCrashed, "the room stopped unexpectedly"))
            }
        }
    }

    /// What a message asks for, checked against the connection's state.
    fn step(&mut self, message: ClientMessage) -> Result<Step, ReadEnd> {
        let policy = |reason: &str| Err(violation(DisconnectReason::PolicyViolation, reason));
        let (session, message) = match (&self.session, message) {
            (None, ClientMessage::Hello { version, name, join, auth }) => {
                let Some(join) = join.filter(|_| version == PROTOCOL_VERSION) else {
                    return Err(violation(
                        DisconnectReason::VersionMismatch,
                        format!("protocol version mismatch: server speaks {PROTOCOL_VERSION}, client sent {version}"),
                    ));
                };
                // With authentication on, the backend's token decides who this is (a resume's seat already knows).
                let name = match &self.context.auth {
                    Some(authenticator) if !matches!(join, Join::Resume { .. }) => {
                        session::authorize(authenticator, auth.as_deref(), &join).map_err(ReadEnd::Violation)?
                    }
                    // Without authentication a token carries no name: the hello's must stand on its own (the
                    // codec let an empty one through only because a token might have named the player).
                    None if !matches!(join, Join::Resume { .. }) => {
                        codec::validate_name(&name).map_err(|error| decode_violation(&error))?;
                        name
                    }
                    _ => name,
                };
                return Ok(Step::Hello { name, join });
            }
            (None, _) => return policy("the first message must be hello"),
            (Some(_), ClientMessage::Hello { .. }) => return policy("hello sent twice"),
            (Some(session), message) => (session, message),
        };
        let client = session.key;
        let command = match message {
            ClientMessage::Input(_) if session.role == Role::Spectator => {
                return policy("spectators cannot send input");
            }
            ClientMessage::Input(input) => {
                if input.seq <= self.last_seq {
                    return policy(&format!("input sequence must increase ({} after {})", input.seq, self.last_seq));
                }
                self.last_seq = input.seq;
                RoomCommand::Input { client, input }
            }
            ClientMessage::View { .. } if session.role == Role::Player => return policy("only spectators send view"),
            ClientMessage::View { follow, x, y } => {
                RoomCommand::View { client, follow, at: glam::Vec2::new(x as f32, y as f32) }
            }
            ClientMessage::Ack { tick } => RoomCommand::Ack { client, tick },
            ClientMessage::Chat { text } => {
                if self.chat_bucket.admit(Instant::now()) != Admission::Admit {
                    let limits = &self.context.limits;
                    return Err(violation(
                        DisconnectReason::ChatFlood,
                        format!(
                            "chat flood: more than {} lines at once or {} per second",
                            limits.chat_burst, limits.chat_per_second
                        ),
                    ));
                }
                RoomCommand::Chat { client, text: text.trim().to_string() }
            }
            ClientMessage::Ping { nonce } => {
                let _ =
                    self.link.outbox.try_send(Outgoing::Message(codec::encode_server(&ServerMessage::Pong { nonce })));
                return Ok(Step::Done);
            }
            ClientMessage::Hello { .. } => unreachable!("handled above"),
        };
        Ok(Step::Command(command))
    }

    /// Seats a client that said hello (or tells it why not), in the lobby and, with one, the room directory.
    async fn admit(&mut self, name: String, join: Join) -> Result<(), ReadEnd> {
        let directory = self.context.directory.as_deref();
        let session = session::admit(&self.context.lobby, directory, &name, &join, self.link, self.peer.ip())
            .await
            .map_err(|refusal| match refusal {
                Refusal::Close(reason) => ReadEnd::Violation(reason),
                Refusal::Redirect { url, join } => ReadEnd::Violation(redirect(url, join)),
            })?;
        // Sequence numbers keep increasing across a resume: the room has seen up to this one.
        self.last_seq = session.input_seq;
        let span = tracing::Span::current();
        span.record("room", session.room.id.as_str());
        span.record("role", if session.role == Role::Player { "player" } else { "spectator" });
        span.record("name", session.name.as_str());
        if session.key.player_id() != 0 {
            span.record("player", session.key.player_id());
        }
        self.session = Some(session);
        Ok(())
    }
}

/// What one client message comes to.
enum Step {
    /// Nothing more to do (answered here, like a ping).
    Done,
    /// A hello that passed its checks: admit the client.
    Hello { name: String, join: Join },
    /// A command for the client's room.
    Command(RoomCommand),
}

/// The code of a client's close frame (`None`: it carried none), refusing what RFC 6455 section 7.4 forbids to
/// send with 1002 and a reason that is not UTF-8 with 1007 (section 8.1).
fn peer_close_code(payload: &[u8]) -> Result<Option<u16>, ReadEnd> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(violation(DisconnectReason::ProtocolError, "close frame with a 1-byte payload")),
        [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), reason),
    };
    // 1004-1006 and 1015 are reserved or only reported locally; 1016-2999 are unassigned; 5000 and up do not exist.
    let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !sendable {
        return Err(violation(DisconnectReason::ProtocolError, format!("invalid close code {code}")));
    }
    if std::str::from_utf8(reason).is_err() {
        return Err(violation(DisconnectReason::MalformedMessage, "close reason is not valid UTF-8"));
    }
    Ok(Some(code))
}

fn violation(kind: DisconnectReason, reason: impl Into<String>) -> ReadEnd {
    ReadEnd::Violation(CloseReason::new(kind, reason))
}

fn decode_violation(error: &DecodeError) -> ReadEnd {
    let kind = match error {
        DecodeError::TooLarge { .. } => DisconnectReason::MessageTooBig,
        DecodeError::Malformed(_) | DecodeError::TrailingBytes(_) | DecodeError::Invalid(_) => {
            DisconnectReason::MalformedMessage
        }
    };
    debug_assert_eq!(kind.code(), error.close_code());
    violation(kind, error.to_string())
}

fn read_error(error: FrameError, limit: usize) -> ReadEnd {
    match error {
        FrameError::TooLarge { .. } => {
            violation(DisconnectReason::MessageTooBig, format!("frame exceeds the message size limit of {limit} bytes"))
        }
        FrameError::Ended => ReadEnd::StreamEnded,
        FrameError::Io(error) => ReadEnd::Transport(error.to_string()),
        FrameError::ReservedBits
        | FrameError::UnknownOpcode(_)
        | FrameError::FragmentedControl
        | FrameError::ControlTooLarge => violation(DisconnectReason::ProtocolError, error.to_string()),
    }
}

/// Resolves once a close reason is set (or the sender is gone). Pinned once per task and polled across messages;
/// it must not be polled again after it resolved.
async fn closing(mut close_rx: watch::Receiver<Option<CloseReason>>) {
    let _ = close_rx.wait_for(Option::is_some).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, F>(_: impl Fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn writer_future_size<A, B, C, D, E, G, H, F>(_: impl Fn(A, B, C, D, E, G, H) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn a_connections_tasks_stay_small_for_their_whole_life() {
        // Each open connection holds these two futures until it closes (5.7 KiB for the reader before the hello's
        // admission and the rare waits were boxed). What runs once or rarely is boxed so that it does not count.
        type Stream = tokio::io::DuplexStream;
        let reader = future_size(serve::<Stream>);
        let writer = writer_future_size(write_loop::<Stream>);
        assert!(reader <= 3 * 1024, "the connection's reader future is {reader} bytes");
        assert!(writer <= 1536, "the connection's writer future is {writer} bytes");
    }
}
