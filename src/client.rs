//! A WebSocket client for the game: connect, hello, apply snapshots to a `Replica`, acknowledge, send input.
//!
//! The bots and the integration tests use it, so they exercise the same code path as any real client: the same
//! codec, the same delta rules, over a real socket.

use std::future::Future;

use bytes::Bytes;
use fastwebsockets::{handshake, Frame, OpCode, Payload, WebSocket};
use http_body_util::Empty;
use hyper::header::{CONNECTION, HOST, UPGRADE};
use hyper::upgrade::Upgraded;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpStream;

use crate::codec::{self, DecodeError};
use crate::protocol::{
    ClientMessage, Event, Input, Join, RosterEntry, ServerMessage, Snapshot, Welcome, PROTOCOL_VERSION,
};
use crate::snapshot::{Entity, Replica, ReplicaError};

/// Largest server message the client accepts (a full snapshot of thousands of entities fits easily).
const MAX_SERVER_MESSAGE: usize = 16 << 20;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("invalid server URL {0:?} (expected ws://host:port/path)")]
    BadUrl(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    #[error("server closed the connection: {code} {reason}")]
    Closed { code: u16, reason: String },
    #[error("undecodable server message: {0}")]
    Decode(#[from] DecodeError),
    #[error("unexpected server message: {0}")]
    Unexpected(String),
    #[error("WebSocket error: {0}")]
    WebSocket(#[from] fastwebsockets::WebSocketError),
}

/// Counters a client keeps about its own session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub full_snapshots: u64,
    pub deltas: u64,
    pub desyncs: u64,
}

/// What reading from the server produced.
#[derive(Debug)]
pub enum ServerEvent {
    /// A snapshot was applied; `tick` is now the newest state.
    Snapshot {
        tick: u32,
        baseline: u32,
        last_input_seq: u32,
        new_events: Vec<Event>,
    },
    /// A snapshot could not be applied (counted in `ClientStats::desyncs`); the client waits for a full one.
    Desync(ReplicaError),
    Pong {
        nonce: u32,
    },
    /// The room's players (spectators get one a second).
    Roster {
        tick: u32,
        players: Vec<RosterEntry>,
    },
}

/// A connected, welcomed client.
pub struct GameClient {
    ws: WebSocket<TokioIo<Upgraded>>,
    pub welcome: Welcome,
    pub replica: Replica,
    pub stats: ClientStats,
    next_seq: u32,
    /// Newest tick to acknowledge (0 while desynced and before the first snapshot).
    ack_tick: u32,
    /// The last decoded snapshot, kept so its vectors' capacity is reused by the next one.
    scratch: Snapshot,
}

struct SpawnExecutor;

impl<F> hyper::rt::Executor<F> for SpawnExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(future);
    }
}

/// Opens a WebSocket to `url` (ws://host:port/path) without saying hello: for tests of the handshake itself.
pub async fn open(url: &str) -> Result<WebSocket<TokioIo<Upgraded>>, ClientError> {
    let uri: Uri = url.parse().map_err(|_| ClientError::BadUrl(url.to_string()))?;
    if uri.scheme_str() != Some("ws") {
        return Err(ClientError::BadUrl(url.to_string()));
    }
    let authority = uri.authority().ok_or_else(|| ClientError::BadUrl(url.to_string()))?.to_string();
    let addr = if uri.port().is_some() { authority.clone() } else { format!("{authority}:80") };
    let stream =
        TcpStream::connect(&addr).await.map_err(|source| ClientError::Connect { addr: addr.clone(), source })?;
    open_on(stream, url).await
}

/// Performs the WebSocket handshake for `url` on a stream already connected to its server (tests use this to pick
/// the local address or the socket's buffer sizes).
pub async fn open_on(stream: TcpStream, url: &str) -> Result<WebSocket<TokioIo<Upgraded>>, ClientError> {
    let uri: Uri = url.parse().map_err(|_| ClientError::BadUrl(url.to_string()))?;
    let authority = uri.authority().ok_or_else(|| ClientError::BadUrl(url.to_string()))?.to_string();
    let _ = stream.set_nodelay(true);
    let request = Request::builder()
        .method("GET")
        .uri(uri.path())
        .header(HOST, authority)
        .header(UPGRADE, "websocket")
        .header(CONNECTION, "upgrade")
        .header("Sec-WebSocket-Key", handshake::generate_key())
        .header("Sec-WebSocket-Version", "13")
        .body(Empty::<Bytes>::new())
        .map_err(|e| ClientError::Handshake(e.to_string()))?;
    let (mut ws, _) =
        handshake::client(&SpawnExecutor, request, stream).await.map_err(|e| ClientError::Handshake(e.to_string()))?;
    ws.set_max_message_size(MAX_SERVER_MESSAGE);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    Ok(ws)
}

impl GameClient {
    /// Connects, says hello with the current protocol version and waits for the welcome.
    pub async fn connect(url: &str, name: &str) -> Result<GameClient, ClientError> {
        GameClient::connect_with_version(url, name, PROTOCOL_VERSION).await
    }

    /// As `connect`, claiming protocol `version` (tests of the version check).
    pub async fn connect_with_version(url: &str, name: &str, version: u16) -> Result<GameClient, ClientError> {
        let join = (version == PROTOCOL_VERSION).then_some(Join::QuickPlay { map: None });
        GameClient::join(open(url).await?, name, version, join).await
    }

    /// Connects and joins as `join` says: quick play, a room by id, a new room, or as a spectator.
    pub async fn connect_as(url: &str, name: &str, join: Join) -> Result<GameClient, ClientError> {
        GameClient::join(open(url).await?, name, PROTOCOL_VERSION, Some(join)).await
    }

    /// Says hello (with `join`, absent only in another version's hello) on an opened WebSocket (see `open_on`) and
    /// waits for the welcome.
    pub async fn join(
        ws: WebSocket<TokioIo<Upgraded>>,
        name: &str,
        version: u16,
        join: Option<Join>,
    ) -> Result<GameClient, ClientError> {
        let mut client = GameClient {
            ws,
            // Filled in from the server's welcome below, before the client is handed out.
            welcome: Welcome::default(),
            replica: Replica::new(),
            stats: ClientStats::default(),
            next_seq: 1,
            ack_tick: 0,
            scratch: Snapshot::default(),
        };
        client.send(&ClientMessage::Hello { version, name: name.to_string(), join }).await?;
        match client.next_message().await? {
            ServerMessage::Welcome(welcome) => client.welcome = welcome,
            other => return Err(ClientError::Unexpected(format!("expected welcome, got {other:?}"))),
        }
        Ok(client)
    }

    pub fn player_id(&self) -> u32 {
        self.welcome.player_id
    }

    /// The newest rebuilt world: tick and entities sorted by id.
    pub fn world(&self) -> Option<(u32, &[Entity])> {
        self.replica.latest()
    }

    /// This client's own player in the newest state.
    pub fn me(&self) -> Option<&Entity> {
        let (_, entities) = self.world()?;
        entities.binary_search_by_key(&self.welcome.player_id, |e| e.id).ok().map(|i| &entities[i])
    }

    /// The name of player `id`.
    pub fn name_of(&self, id: u32) -> Option<&str> {
        self.replica.name(id).map(|name| &**name)
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        self.send_bytes(codec::encode_client(message)).await
    }

    /// Sends raw bytes as one binary message (tests of the server's validation).
    pub async fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.stats.bytes_out += bytes.len() as u64;
        self.ws.write_frame(Frame::binary(Payload::Owned(bytes))).await?;
        Ok(())
    }

    /// Sends an input with the next sequence number, acknowledging the newest applied tick. Returns the sequence.
    pub async fn send_input(&mut self, move_x: i8, move_y: i8, aim: u16, fire: bool) -> Result<u32, ClientError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let input = Input { seq, move_x, move_y, aim, buttons: u8::from(fire), ack_tick: self.ack_tick };
        self.send(&ClientMessage::Input(input)).await?;
        Ok(seq)
    }

    /// Acknowledges the newest applied tick without sending input; returns the tick acknowledged.
    pub async fn send_ack(&mut self) -> Result<u32, ClientError> {
        let tick = self.ack_tick;
        self.send(&ClientMessage::Ack { tick }).await?;
        Ok(tick)
    }

    /// Reads and decodes the next server message without applying it (a test may drop it on purpose).
    pub async fn next_message(&mut self) -> Result<ServerMessage, ClientError> {
        let frame = next_binary_frame(&mut self.ws, &mut self.stats).await?;
        match codec::decode_server(&frame.payload)? {
            ServerMessage::Close { code, reason } => Err(ClientError::Closed { code, reason }),
            message => Ok(message),
        }
    }

    /// Applies a snapshot to the replica and updates the acknowledgement.
    pub fn apply(&mut self, snapshot: &Snapshot) -> ServerEvent {
        match self.replica.apply(snapshot) {
            Ok(applied) => {
                if snapshot.baseline == 0 {
                    self.stats.full_snapshots += 1;
                } else {
                    self.stats.deltas += 1;
                }
                self.ack_tick = applied.tick;
                ServerEvent::Snapshot {
                    tick: applied.tick,
                    baseline: snapshot.baseline,
                    last_input_seq: snapshot.last_input_seq,
                    new_events: applied.new_events,
                }
            }
            Err(error) => {
                self.stats.desyncs += 1;
                ServerEvent::Desync(error)
            }
        }
    }

    /// Reads the next server message and applies it. Snapshots are decoded into a reused buffer (the bots' hot
    /// path); anything else, and any snapshot the lean decoder refuses, goes through `codec::decode_server`.
    pub async fn next_event(&mut self) -> Result<ServerEvent, ClientError> {
        let frame = next_binary_frame(&mut self.ws, &mut self.stats).await?;
        if codec::is_snapshot(&frame.payload) && codec::decode_snapshot_into(&frame.payload, &mut self.scratch).is_ok()
        {
            // `apply` borrows the whole client, so the buffer steps out for the call.
            let snapshot = std::mem::take(&mut self.scratch);
            let event = self.apply(&snapshot);
            self.scratch = snapshot;
            return Ok(event);
        }
        // The lean decoder already refused a snapshot here; only the general one is left to try (or to word the error).
        match codec::decode_server_general(&frame.payload)? {
            ServerMessage::Snapshot(snapshot) => Ok(self.apply(&snapshot)),
            ServerMessage::Pong { nonce } => Ok(ServerEvent::Pong { nonce }),
            ServerMessage::Roster { tick, players } => Ok(ServerEvent::Roster { tick, players }),
            ServerMessage::Close { code, reason } => Err(ClientError::Closed { code, reason }),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Closes the connection with 1000 and waits briefly for the server's answer.
    pub async fn close(mut self) {
        let _ = self.ws.write_frame(Frame::close(1000, b"bye")).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            while let Ok(frame) = self.ws.read_frame().await {
                if frame.opcode == OpCode::Close {
                    break;
                }
            }
        })
        .await;
    }
}

/// Reads frames until a binary one arrives (pings and pongs are answered by the library), counting bytes in.
/// A close frame or a text frame ends the session with an error.
async fn next_binary_frame<'f>(
    ws: &'f mut WebSocket<TokioIo<Upgraded>>,
    stats: &mut ClientStats,
) -> Result<Frame<'f>, ClientError> {
    loop {
        let frame = ws.read_frame().await?;
        stats.bytes_in += frame.payload.len() as u64;
        match frame.opcode {
            OpCode::Binary => return Ok(frame),
            OpCode::Close => {
                let (code, reason) = parse_close(&frame.payload);
                return Err(ClientError::Closed { code, reason });
            }
            OpCode::Text => return Err(ClientError::Unexpected("a text message".into())),
            OpCode::Ping | OpCode::Pong | OpCode::Continuation => {}
        }
    }
}

/// Splits a close frame's payload into code and reason (1005 "no status" when empty).
pub fn parse_close(payload: &[u8]) -> (u16, String) {
    match payload {
        [a, b, reason @ ..] => (u16::from_be_bytes([*a, *b]), String::from_utf8_lossy(reason).into_owned()),
        _ => (1005, String::new()),
    }
}
