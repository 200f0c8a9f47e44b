//! One WebSocket connection: a reader task that decodes, validates and forwards client messages to the room, and a
//! writer task that drains the client's bounded outbox onto the socket. fastwebsockets parses what the client sends;
//! the writer frames what the server sends itself (unmasked server frames are a few header bytes), so a snapshot body
//! shared by many clients goes out in one vectored write per client, never copied.
//!
//! A connection's failure is logged here and ends only this connection. Everything the client sends is checked
//! before it reaches the room: masking (RFC 6455 section 5.1), frame and message size, control frame size, frame
//! type, MessagePack shape, value ranges, the hello handshake, sequence order and message rate. Each violation
//! closes with the matching code and a reason, logs one warning with the peer, and is counted.
//!
//! The writer also keeps the connection honest in time: it pings a silent peer and closes one that stays silent
//! (which also reaps half-open sockets), and it never blocks on a peer that stopped reading once a close is due.

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use fastwebsockets::{Frame, OpCode, WebSocket, WebSocketError, WebSocketRead};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};
use tracing::{debug, warn};

use crate::codec::{self, close_code, DecodeError};
use crate::config::{Limits, ServerConfig};
use crate::link::{close_with, ClientLink, CloseReason, DisconnectReason, Outgoing};
use crate::lobby::Lobby;
use crate::protocol::{ClientMessage, Role, ServerMessage, PROTOCOL_VERSION};
use crate::room::RoomCommand;
use crate::session::{self, Session};
use crate::telemetry::ServerStats;

/// What a connection runs over: an upgraded HTTP connection in the server, an in-memory pipe in tests.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

/// What the connection needs from the server.
#[derive(Clone)]
pub struct ConnectionContext {
    pub lobby: Arc<Lobby>,
    pub limits: Limits,
    pub stats: Arc<ServerStats>,
}

impl ConnectionContext {
    pub fn new(config: &ServerConfig, lobby: Arc<Lobby>, stats: Arc<ServerStats>) -> ConnectionContext {
        ConnectionContext { lobby, limits: config.limits.clone(), stats }
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
        TokenBucket {
            tokens: f64::from(burst),
            rate: f64::from(rate),
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
    /// The peer closed the socket or sent a close frame.
    PeerClosed,
    /// The server closed it (shutdown, slow client); the writer already has the reason.
    ServerClosed,
    /// The peer broke a rule, or the room refused it: close with this reason.
    Violation(CloseReason),
    /// The transport failed (reset, broken frame stream).
    Transport(String),
}

/// Serves one upgraded WebSocket until it closes.
pub async fn serve<S: Transport>(ws: WebSocket<S>, peer: SocketAddr, context: ConnectionContext) {
    // fastwebsockets reads; the writer writes frames itself (see `write_frame`), so it takes the raw write half and
    // fastwebsockets' own write half is a sink that is never used (auto-pong and auto-close are off).
    let raw_write = std::cell::Cell::new(None);
    let (read, _unused) = ws.split(|stream| {
        let (read, write) = tokio::io::split(stream);
        raw_write.set(Some(write));
        (read, tokio::io::sink())
    });
    let Some(write) = raw_write.into_inner() else { unreachable!("split calls its function once") };
    let (link, outbox_rx, close_rx) = ClientLink::new(context.limits.outbox_frames);
    let last_heard = Arc::new(LastHeard::new());
    let writer = tokio::spawn(write_loop(
        write,
        outbox_rx,
        close_rx.clone(),
        link.closer.clone(),
        last_heard.clone(),
        context.limits.clone(),
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
    };
    let end = reader.run(close_rx.clone()).await;
    let session = reader.session;
    match end {
        // Already set: the echo of the peer's close frame, or the server's own reason.
        ReadEnd::PeerClosed | ReadEnd::ServerClosed => {}
        ReadEnd::Violation(reason) => {
            if reason.kind.is_misbehaviour() {
                context.stats.violations.fetch_add(1, Ordering::Relaxed);
            }
            link.close(reason);
        }
        ReadEnd::Transport(error) => {
            link.close(CloseReason::new(DisconnectReason::TransportError, error));
        }
    }
    // A stream that simply ended (no close frame, no reason yet) is the peer leaving.
    link.close(CloseReason::new(DisconnectReason::PeerClosed, ""));
    if let Some(session) = session {
        session.send(RoomCommand::Leave { client: session.key }).await;
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
}

struct Reader<'a, S> {
    read: WebSocketRead<ReadHalf<S>>,
    context: &'a ConnectionContext,
    link: &'a ClientLink,
    peer: SocketAddr,
    session: Option<Session>,
    last_seq: u32,
    last_heard: &'a LastHeard,
    bucket: TokenBucket,
}

impl<S: Transport> Reader<'_, S> {
    async fn run(&mut self, close_rx: watch::Receiver<Option<CloseReason>>) -> ReadEnd {
        self.read.set_auto_close(false);
        self.read.set_auto_pong(false);
        // Frames larger than this are refused before their payload is read.
        self.read.set_max_message_size(self.context.limits.max_message_bytes + 1);
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
                Ok(Some(bytes)) => bytes,
                Ok(None) => return ReadEnd::PeerClosed,
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
    /// `Ok(None)` means the peer closed.
    async fn next_message(&mut self) -> Result<Option<Vec<u8>>, ReadEnd> {
        let limit = self.context.limits.max_message_bytes;
        let mut message: Vec<u8> = Vec::new();
        let mut fragmented = false;
        loop {
            let mut frame = self.read.read_frame(&mut never_send).await.map_err(|error| read_error(error, limit))?;
            self.last_heard.touch();
            if !was_masked(&mut frame) {
                return Err(violation(DisconnectReason::ProtocolError, "client frames must be masked"));
            }
            // RFC 6455 section 5.5: control frames carry at most 125 bytes.
            let control = matches!(frame.opcode, OpCode::Close | OpCode::Ping | OpCode::Pong);
            if control && frame.payload.len() > 125 {
                return Err(violation(DisconnectReason::ProtocolError, "control frame over 125 bytes"));
            }
            match frame.opcode {
                OpCode::Binary | OpCode::Continuation => {
                    if (frame.opcode == OpCode::Continuation) != fragmented {
                        return Err(violation(DisconnectReason::ProtocolError, "unexpected continuation"));
                    }
                    if message.len() + frame.payload.len() > limit {
                        let size = message.len() + frame.payload.len();
                        return Err(decode_violation(&DecodeError::TooLarge { size, limit }));
                    }
                    message.extend_from_slice(&frame.payload);
                    if frame.fin {
                        return Ok(Some(message));
                    }
                    fragmented = true;
                }
                OpCode::Text => {
                    return Err(violation(
                        DisconnectReason::UnsupportedData,
                        "text messages are not accepted; send binary MessagePack",
                    ));
                }
                OpCode::Ping => {
                    let _ = self.link.outbox.try_send(Outgoing::Pong(frame.payload.to_vec()));
                }
                OpCode::Pong => {}
                OpCode::Close => {
                    self.link.close(CloseReason::echo());
                    return Ok(None);
                }
            }
        }
    }

    async fn handle(&mut self, message: ClientMessage) -> Result<(), ReadEnd> {
        let policy = |reason: &str| Err(violation(DisconnectReason::PolicyViolation, reason));
        let (session, message) = match (&self.session, message) {
            (None, ClientMessage::Hello { version, name, join }) => {
                let Some(join) = join.filter(|_| version == PROTOCOL_VERSION) else {
                    return Err(violation(
                        DisconnectReason::VersionMismatch,
                        format!("protocol version mismatch: server speaks {PROTOCOL_VERSION}, client sent {version}"),
                    ));
                };
                let session = session::admit(&self.context.lobby, &name, &join, self.link, self.peer.ip())
                    .await
                    .map_err(ReadEnd::Violation)?;
                self.session = Some(session);
                return Ok(());
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
            ClientMessage::Ping { nonce } => {
                let _ =
                    self.link.outbox.try_send(Outgoing::Message(codec::encode_server(&ServerMessage::Pong { nonce })));
                return Ok(());
            }
            ClientMessage::Hello { .. } => unreachable!("handled above"),
        };
        if session.send(command).await {
            return Ok(());
        }
        // The room's queue is gone without a close for this client: the room stopped unexpectedly.
        Err(violation(DisconnectReason::RoomCrashed, "the room stopped unexpectedly"))
    }
}

/// Auto-pong and auto-close are off, so fastwebsockets never has an obligated frame to send through this.
async fn never_send(_frame: Frame<'_>) -> Result<(), std::io::Error> {
    Ok(())
}

/// fastwebsockets unmasks client frames but does not refuse unmasked ones; the frame head it would write back
/// still carries the mask bit of what was received.
fn was_masked(frame: &mut Frame<'_>) -> bool {
    let mut head = [0u8; 16];
    frame.fmt_head(&mut head);
    head[1] & 0x80 != 0
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

fn read_error(error: WebSocketError, limit: usize) -> ReadEnd {
    match error {
        WebSocketError::FrameTooLarge => {
            violation(DisconnectReason::MessageTooBig, format!("frame exceeds the message size limit of {limit} bytes"))
        }
        WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed => ReadEnd::PeerClosed,
        WebSocketError::IoError(e) => ReadEnd::Transport(e.to_string()),
        // fastwebsockets checks a ping's size before we see the frame; same rule, same reason as for the others.
        WebSocketError::PingFrameTooLarge => violation(DisconnectReason::ProtocolError, "control frame over 125 bytes"),
        WebSocketError::ReservedBitsNotZero
        | WebSocketError::ControlFrameFragmented
        | WebSocketError::InvalidFragment
        | WebSocketError::InvalidContinuationFrame
        | WebSocketError::InvalidCloseFrame
        | WebSocketError::InvalidCloseCode
        | WebSocketError::InvalidValue => violation(DisconnectReason::ProtocolError, error.to_string()),
        WebSocketError::InvalidUTF8 => violation(DisconnectReason::MalformedMessage, error.to_string()),
        other => ReadEnd::Transport(other.to_string()),
    }
}

/// Resolves once a close reason is set (or the sender is gone). Pinned once per task and polled across messages;
/// it must not be polled again after it resolved.
async fn closing(mut close_rx: watch::Receiver<Option<CloseReason>>) {
    let _ = close_rx.wait_for(Option::is_some).await;
}

/// Why a write did not complete.
enum WriteStop {
    /// The socket failed: nothing more can be written.
    Broken,
    /// A close was requested, or the peer went silent, while the write waited on a peer that is not reading.
    Interrupted,
}

/// WebSocket opcodes the writer sends (RFC 6455 section 5.2).
mod opcode {
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// The head of an unmasked, unfragmented server frame: FIN, the opcode and the payload length.
fn frame_head(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    head[0] = 0x80 | opcode;
    let used = match len {
        0..=125 => {
            head[1] = len as u8;
            2
        }
        126..=0xffff => {
            head[1] = 126;
            head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            head[1] = 127;
            head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    (head, used)
}

/// Writes one frame whose payload is the concatenation of `parts`, with vectored writes and no copy.
async fn write_frame<S: Transport>(write: &mut WriteHalf<S>, opcode: u8, parts: &[&[u8]]) -> std::io::Result<()> {
    let len = parts.iter().map(|part| part.len()).sum();
    let (head, head_len) = frame_head(opcode, len);
    let mut slices = [IoSlice::new(&[]); 4];
    slices[0] = IoSlice::new(&head[..head_len]);
    for (slot, part) in slices[1..].iter_mut().zip(parts) {
        *slot = IoSlice::new(part);
    }
    let mut pending = &mut slices[..1 + parts.len().min(3)];
    IoSlice::advance_slices(&mut pending, 0);
    while !pending.is_empty() {
        match write.write_vectored(pending).await? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            written => IoSlice::advance_slices(&mut pending, written),
        }
    }
    Ok(())
}

/// A frame the writer is about to send.
enum Pending {
    Outgoing(Outgoing),
    Ping,
}

async fn write_pending<S: Transport>(write: &mut WriteHalf<S>, pending: &Pending) -> std::io::Result<()> {
    match pending {
        Pending::Outgoing(Outgoing::Message(bytes)) => write_frame(write, opcode::BINARY, &[bytes]).await,
        Pending::Outgoing(Outgoing::Split { head, body }) => write_frame(write, opcode::BINARY, &[head, body]).await,
        Pending::Outgoing(Outgoing::Pong(payload)) => write_frame(write, opcode::PONG, &[payload]).await,
        Pending::Ping => write_frame(write, opcode::PING, &[b"skirmish"]).await,
    }
}

async fn write_loop<S: Transport>(
    mut write: WriteHalf<S>,
    mut outbox: mpsc::Receiver<Outgoing>,
    close_rx: watch::Receiver<Option<CloseReason>>,
    closer: Arc<watch::Sender<Option<CloseReason>>>,
    last_heard: Arc<LastHeard>,
    limits: Limits,
) {
    let idle_reason = || {
        let silent = limits.idle_timeout.as_secs_f64();
        CloseReason::new(DisconnectReason::IdleTimeout, format!("idle timeout: nothing received for {silent} s"))
    };
    let mut pinged_at: Option<Instant> = None;
    // Ping after each ping interval of silence (counted from the last message or the last ping); a peer that
    // answers moves `heard` and is never idle. One timer serves both checks: armed for the earliest either could be
    // due and re-armed only when it fires (`heard` only moves forward, so firing early just means looking again),
    // instead of two timers registered per frame.
    let due = |pinged_at: Option<Instant>| {
        let heard = last_heard.at();
        let (idle_at, ping_at) =
            (heard + limits.idle_timeout, pinged_at.map_or(heard, |at| at.max(heard)) + limits.ping_interval);
        (idle_at, ping_at, idle_at.min(ping_at))
    };
    let housekeeping = tokio::time::sleep_until(due(None).2);
    let closed = closing(close_rx.clone());
    tokio::pin!(housekeeping, closed);
    loop {
        let frame = tokio::select! {
            biased;
            _ = &mut closed => break,
            _ = &mut housekeeping => {
                let now = Instant::now();
                let (idle_at, ping_at, _) = due(pinged_at);
                if idle_at <= now {
                    close_with(&closer, idle_reason());
                    // `closed` resolves next.
                    continue;
                }
                let ping = ping_at <= now;
                if ping {
                    pinged_at = Some(now);
                }
                housekeeping.as_mut().reset(due(pinged_at).2);
                if !ping {
                    continue;
                }
                Pending::Ping
            }
            message = outbox.recv() => match message {
                Some(message) => Pending::Outgoing(message),
                None => break,
            },
        };
        match write_interruptibly(&mut write, &frame, closed.as_mut(), &last_heard, limits.idle_timeout).await {
            Ok(()) => {}
            Err(WriteStop::Broken) => return,
            Err(WriteStop::Interrupted) => {
                if close_rx.borrow().is_none() {
                    close_with(&closer, idle_reason());
                }
                // The peer is not reading: a close frame would only block again.
                return;
            }
        }
    }
    let reason = close_rx.borrow().clone().unwrap_or_else(|| CloseReason::new(DisconnectReason::PeerClosed, ""));
    let flush = async {
        if !reason.echo && reason.code != close_code::NORMAL {
            let message = ServerMessage::Close { code: reason.code, reason: reason.reason.clone() };
            write_frame(&mut write, opcode::BINARY, &[&codec::encode_server(&message)]).await?;
        }
        // A close frame's reason is at most 123 bytes (RFC 6455 section 5.5).
        let mut end = reason.reason.len().min(123);
        while !reason.reason.is_char_boundary(end) {
            end -= 1;
        }
        write_frame(&mut write, opcode::CLOSE, &[&reason.code.to_be_bytes(), &reason.reason.as_bytes()[..end]]).await
    };
    // A peer that stopped reading cannot hold the writer past the grace period.
    let _ = timeout(limits.shutdown_grace, flush).await;
}

/// Writes one frame unless a close is requested, or the peer falls silent for the idle timeout, while the write
/// waits on a full socket. `closed` is the writer's pinned `closing` future; on `Interrupted` it may have resolved.
async fn write_interruptibly<S: Transport>(
    write: &mut WriteHalf<S>,
    frame: &Pending,
    mut closed: std::pin::Pin<&mut impl Future<Output = ()>>,
    last_heard: &LastHeard,
    idle_timeout: Duration,
) -> Result<(), WriteStop> {
    let writing = write_pending(write, frame);
    tokio::pin!(writing);
    // Nearly every write completes at once: only a write that waits needs the close and idle watch (and a timer).
    if let Poll::Ready(result) = std::future::poll_fn(|cx| Poll::Ready(writing.as_mut().poll(cx))).await {
        return result.map_err(|_| WriteStop::Broken);
    }
    loop {
        let idle_deadline = last_heard.at() + idle_timeout;
        tokio::select! {
            result = &mut writing => return result.map_err(|_| WriteStop::Broken),
            _ = closed.as_mut() => return Err(WriteStop::Interrupted),
            _ = tokio::time::sleep_until(idle_deadline) => {
                if last_heard.at() + idle_timeout <= Instant::now() {
                    return Err(WriteStop::Interrupted);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_heads_use_the_shortest_length_encoding() {
        // RFC 6455 section 5.2: 7-bit lengths up to 125, then 126 + u16, then 127 + u64; FIN set, no mask.
        assert_eq!(frame_head(opcode::BINARY, 0), ([0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        assert_eq!(frame_head(opcode::PONG, 125).0[..2], [0x8a, 125]);
        assert_eq!(frame_head(opcode::BINARY, 126), ([0x82, 126, 0, 126, 0, 0, 0, 0, 0, 0], 4));
        assert_eq!(frame_head(opcode::CLOSE, 65535), ([0x88, 126, 0xff, 0xff, 0, 0, 0, 0, 0, 0], 4));
        assert_eq!(frame_head(opcode::BINARY, 65536), ([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0], 10));
    }
}
