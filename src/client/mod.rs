//! A WebSocket client for the game: connect, hello, apply snapshots to a `Replica`, acknowledge, send input.
//!
//! The bots and the integration tests use it, so they exercise the same code path as any real client: the same
//! codec, the same delta rules, over a real socket. fastwebsockets does the handshake; frames are then read and
//! written by `socket`, cancel-safely, since callers read inside `select!`s with timers.
//!
//! A player's session outlives its socket (protocol v4): every welcome carries a single-use resume token, and the
//! replica remembers the newest tick it holds. After the socket is gone (a network drop, or `drop_connection` to
//! simulate one), `resume` opens a new socket, sends `[5, token, newest tick]` and carries on with the same replica,
//! so the server's first snapshot can be a delta against a tick the client already has.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use fastwebsockets::{handshake, WebSocket};
use http_body_util::Empty;
use hyper::header::{CONNECTION, HOST, UPGRADE};
use hyper::upgrade::Upgraded;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpStream;

mod socket;

use crate::codec::{self, close_code, DecodeError};
use crate::conditioner::Conditioner;
use crate::connection::frames::FrameError;
use crate::protocol::{
    player_field, ClientMessage, Event, Hit, Input, Join, Role, RosterEntry, ServerMessage, Snapshot, Welcome,
    PROTOCOL_VERSION,
};
use crate::snapshot::{Entity, Replica, ReplicaError};
use socket::{Received, Socket};

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
    /// Reading or writing frames after the handshake.
    #[error("WebSocket error: {0}")]
    Frame(#[from] FrameError),
    /// The socket was dropped (`drop_connection`) and no resume has replaced it yet.
    #[error("not connected: the connection was dropped")]
    NotConnected,
    /// `resume` without a resume token: a spectator, or a server with resuming off (grace 0).
    #[error("nothing to resume: the welcome carried no session")]
    NoSession,
}

impl ClientError {
    /// Whether the server refused a resume (close 4007: unknown, expired or spent token, or the room is gone).
    /// Trying again with the same token cannot succeed.
    pub fn is_resume_refused(&self) -> bool {
        matches!(self, ClientError::Closed { code: close_code::RESUME_REFUSED, .. })
    }
}

/// How `drop_connection` ends the socket; neither sends a WebSocket close frame, so the server holds the seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abrupt {
    /// Close the TCP socket normally (a FIN): what the kernel does for a client process that dies.
    Fin,
    /// Reset the TCP connection (an RST, via SO_LINGER 0): what a middlebox or a restarted NAT does.
    Reset,
}

/// What a successful `resume` found.
#[derive(Debug)]
pub struct ResumeOutcome {
    /// The tick the resume hello said the client held (0: none), which the server may use as the baseline.
    pub held_tick: u32,
    /// The highest input seq the server had from this seat (the welcome's); inputs continue above it.
    pub input_seq: u32,
    /// Tick and baseline of the first snapshot after the welcome: baseline 0 is a full snapshot, anything else a
    /// delta (against `held_tick`, by the protocol's rules).
    pub tick: u32,
    pub baseline: u32,
    /// That first snapshot as `next_event` would have returned it (applied, or a desync), for its events.
    pub event: ServerEvent,
}

impl ResumeOutcome {
    /// Whether the server started over with a full snapshot instead of a delta against the held tick.
    pub fn full(&self) -> bool {
        self.baseline == 0
    }
}

/// Counters a client keeps about its own session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub full_snapshots: u64,
    pub deltas: u64,
    pub desyncs: u64,
    /// Redirects to another server process followed (`--redis` clusters).
    pub redirects: u64,
}

/// Redirects followed in a row before giving up (a directory never chains more than one or two).
pub const MAX_REDIRECTS: u32 = 3;

/// What reading from the server produced.
#[derive(Debug)]
pub enum ServerEvent {
    /// A snapshot was applied; `tick` is now the newest state.
    Snapshot {
        tick: u32,
        baseline: u32,
        last_input_seq: u32,
        new_events: Vec<Event>,
        /// This client's bullets that hit someone, first seen in this snapshot.
        new_hits: Vec<Hit>,
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
    /// A chat line from someone in the room (`from` 0: a spectator).
    Chat {
        tick: u32,
        from: u32,
        name: String,
        text: String,
    },
}

/// A welcomed client: connected, or (after `drop_connection`) waiting for `resume`.
pub struct GameClient {
    /// `None` between a dropped connection and the resume that replaces it.
    ws: Option<Socket>,
    /// The newest welcome: a resume replaces it, and with it the session's next (single-use) resume token.
    pub welcome: Welcome,
    pub replica: Replica,
    pub stats: ClientStats,
    next_seq: u32,
    /// Newest tick to acknowledge (0 while desynced and before the first snapshot).
    ack_tick: u32,
    /// The last decoded snapshot, kept so its vectors' capacity is reused by the next one.
    scratch: Snapshot,
    /// Tick and baseline of the last snapshot handed to `apply` (applied or not): how `resume` tells a full
    /// restart from a delta even when the snapshot desyncs.
    last_header: (u32, u32),
    /// What the next inputs report as their view delay (lag compensation; `set_view_delay`).
    view_delay_ms: u16,
    /// The newest applied snapshot's `own`: what rounding took off the player's velocity.
    velocity_rest: [i32; 2],
    /// The link conditioner a resume's new socket goes through too (`set_conditioner`).
    conditioner: Option<Arc<Conditioner>>,
    /// The server this client was last redirected to: resumes go there.
    server_url: Option<String>,
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
    open_through(url, None).await
}

/// As `open`, the connection passing through a link conditioner when one is given (the bots' `--link-*`).
pub async fn open_through(
    url: &str,
    conditioner: Option<&Conditioner>,
) -> Result<WebSocket<TokioIo<Upgraded>>, ClientError> {
    let uri: Uri = url.parse().map_err(|_| ClientError::BadUrl(url.to_string()))?;
    if uri.scheme_str() != Some("ws") {
        return Err(ClientError::BadUrl(url.to_string()));
    }
    let authority = uri.authority().ok_or_else(|| ClientError::BadUrl(url.to_string()))?.to_string();
    let addr = if uri.port().is_some() { authority.clone() } else { format!("{authority}:80") };
    let stream =
        TcpStream::connect(&addr).await.map_err(|source| ClientError::Connect { addr: addr.clone(), source })?;
    match conditioner {
        None => open_on(stream, url).await,
        Some(conditioner) => {
            let _ = stream.set_nodelay(true);
            handshake_on(conditioner.wrap(stream), url).await
        }
    }
}

/// Performs the WebSocket handshake for `url` on a stream already connected to its server (tests use this to pick
/// the local address or the socket's buffer sizes).
pub async fn open_on(stream: TcpStream, url: &str) -> Result<WebSocket<TokioIo<Upgraded>>, ClientError> {
    let _ = stream.set_nodelay(true);
    handshake_on(stream, url).await
}

async fn handshake_on<S>(stream: S, url: &str) -> Result<WebSocket<TokioIo<Upgraded>>, ClientError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let uri: Uri = url.parse().map_err(|_| ClientError::BadUrl(url.to_string()))?;
    let authority = uri.authority().ok_or_else(|| ClientError::BadUrl(url.to_string()))?.to_string();
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
        GameClient::join_with_auth(ws, name, version, join, None).await
    }

    /// `join` with a join token signed by the game's backend (a server with `--auth-secret` requires one; the name
    /// then comes from the token).
    pub async fn join_with_auth(
        ws: WebSocket<TokioIo<Upgraded>>,
        name: &str,
        version: u16,
        join: Option<Join>,
        auth: Option<String>,
    ) -> Result<GameClient, ClientError> {
        GameClient::join_following(ws, name, version, join, auth, None).await
    }

    /// As `join_with_auth`, following a server's redirects (`[7, url, join]`, then a close 4014) to the process
    /// that has the room, up to [`MAX_REDIRECTS`], through `conditioner` when given; the same name, version and auth
    /// go to every process.
    pub async fn join_following(
        ws: WebSocket<TokioIo<Upgraded>>,
        name: &str,
        version: u16,
        join: Option<Join>,
        auth: Option<String>,
        conditioner: Option<Arc<Conditioner>>,
    ) -> Result<GameClient, ClientError> {
        let mut client = GameClient {
            ws: Some(Socket::new(ws.into_inner(), MAX_SERVER_MESSAGE)),
            // Filled in from the server's welcome below, before the client is handed out.
            welcome: Welcome::default(),
            // Made again from the welcome's tick rate below.
            replica: Replica::new(0),
            stats: ClientStats::default(),
            next_seq: 1,
            ack_tick: 0,
            scratch: Snapshot::default(),
            last_header: (0, 0),
            view_delay_ms: 0,
            velocity_rest: [0, 0],
            conditioner,
            server_url: None,
        };
        let mut join = join;
        loop {
            let hello =
                ClientMessage::Hello { version, name: name.to_string(), join: join.clone(), auth: auth.clone() };
            client.send(&hello).await?;
            match client.next_message().await? {
                ServerMessage::Welcome(welcome) => {
                    client.replica = Replica::new(u32::from(welcome.tick_rate));
                    client.welcome = welcome;
                    return Ok(client);
                }
                ServerMessage::Redirect { url, join: next } if client.stats.redirects < u64::from(MAX_REDIRECTS) => {
                    let ws = open_through(&url, client.conditioner.as_deref()).await?;
                    client.ws = Some(Socket::new(ws.into_inner(), MAX_SERVER_MESSAGE));
                    client.server_url = Some(url);
                    client.stats.redirects += 1;
                    join = Some(next);
                }
                ServerMessage::Redirect { url, .. } => {
                    return Err(ClientError::Unexpected(format!("too many redirects, the last to {url}")));
                }
                other => return Err(ClientError::Unexpected(format!("expected welcome, got {other:?}"))),
            }
        }
    }

    /// The server process this client plays on, when a redirect took it away from the one it first connected to.
    pub fn server_url(&self) -> Option<&str> {
        self.server_url.as_deref()
    }

    pub fn player_id(&self) -> u32 {
        self.welcome.player_id
    }

    /// Whether a socket is open (false between `drop_connection` and a successful `resume`).
    pub fn is_connected(&self) -> bool {
        self.ws.is_some()
    }

    /// The token the next `resume` spends: the newest welcome's (`None` for a spectator or with resuming off).
    pub fn resume_token(&self) -> Option<&str> {
        self.welcome.session.as_ref().map(|session| session.resume_token.as_str())
    }

    /// How long the server holds the seat after the socket drops (`None`: it does not).
    pub fn resume_grace(&self) -> Option<std::time::Duration> {
        let session = self.welcome.session.as_ref()?;
        Some(std::time::Duration::from_millis(u64::from(session.grace_ms)))
    }

    /// The newest tick the replica holds (0: none yet): what a resume asks the server to continue from.
    pub fn newest_tick(&self) -> u32 {
        self.replica.latest().map_or(0, |(tick, _)| tick)
    }

    fn ws(&mut self) -> Result<&mut Socket, ClientError> {
        self.ws.as_mut().ok_or(ClientError::NotConnected)
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

    /// The newest snapshot decoded by `next_event`, as it came (for measuring what snapshots hold).
    pub fn last_snapshot(&self) -> &Snapshot {
        &self.scratch
    }

    /// The own player with its true velocity: the state's (a multiple of the tick rate) plus the newest snapshot's
    /// `own` correction. What a client predicting its player starts from.
    pub fn me_exact(&self) -> Option<Entity> {
        let mut me = *self.me()?;
        me.fields[player_field::VX] += self.velocity_rest[0];
        me.fields[player_field::VY] += self.velocity_rest[1];
        Some(me)
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
        let len = bytes.len() as u64;
        self.ws()?.send_binary(&bytes).await.map_err(FrameError::from)?;
        self.stats.bytes_out += len;
        Ok(())
    }

    /// Sends an input with the next sequence number, acknowledging the newest applied tick. Returns the sequence.
    pub async fn send_input(&mut self, move_x: i8, move_y: i8, aim: u16, fire: bool) -> Result<u32, ClientError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let input = Input {
            seq,
            move_x,
            move_y,
            aim,
            buttons: u8::from(fire),
            ack_tick: self.ack_tick,
            view_delay_ms: self.view_delay_ms,
        };
        self.send(&ClientMessage::Input(input)).await?;
        Ok(seq)
    }

    /// How far behind the newest applied tick this client draws the other players, in milliseconds, reported with
    /// every later input so the server resolves its shots where it saw its targets (capped at 1000).
    pub fn set_view_delay(&mut self, millis: u16) {
        self.view_delay_ms = millis.min(crate::protocol::MAX_VIEW_DELAY_MS);
    }

    /// The sequence number the next input will carry.
    pub fn next_input_seq(&self) -> u32 {
        self.next_seq
    }

    /// The tick the next input or acknowledgement acknowledges (0 while desynced and before the first snapshot).
    pub fn ack_tick(&self) -> u32 {
        self.ack_tick
    }

    /// Makes later resumes open their sockets through `conditioner`, as this client's first one was.
    pub fn set_conditioner(&mut self, conditioner: Option<Arc<Conditioner>>) {
        self.conditioner = conditioner;
    }

    /// Acknowledges the newest applied tick without sending input; returns the tick acknowledged.
    pub async fn send_ack(&mut self) -> Result<u32, ClientError> {
        let tick = self.ack_tick;
        self.send(&ClientMessage::Ack { tick }).await?;
        Ok(tick)
    }

    /// Reads and decodes the next server message without applying it (a test may drop it on purpose).
    pub async fn next_message(&mut self) -> Result<ServerMessage, ClientError> {
        let ws = self.ws.as_mut().ok_or(ClientError::NotConnected)?;
        let payload = next_binary_frame(ws, &mut self.stats).await?;
        match codec::decode_server(payload)? {
            ServerMessage::Close { code, reason } => Err(ClientError::Closed { code, reason }),
            message => Ok(message),
        }
    }

    /// Applies a snapshot to the replica and updates the acknowledgement.
    pub fn apply(&mut self, snapshot: &Snapshot) -> ServerEvent {
        self.last_header = (snapshot.tick, snapshot.baseline);
        match self.replica.apply(snapshot) {
            Ok(applied) => {
                if snapshot.baseline == 0 {
                    self.stats.full_snapshots += 1;
                } else {
                    self.stats.deltas += 1;
                }
                self.ack_tick = applied.tick;
                self.velocity_rest = snapshot.own.unwrap_or_default();
                ServerEvent::Snapshot {
                    tick: applied.tick,
                    baseline: snapshot.baseline,
                    last_input_seq: snapshot.last_input_seq,
                    new_events: applied.new_events,
                    new_hits: applied.new_hits,
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
        let ws = self.ws.as_mut().ok_or(ClientError::NotConnected)?;
        let payload = next_binary_frame(ws, &mut self.stats).await?;
        if codec::is_snapshot(payload) {
            codec::decode_snapshot_into(payload, &mut self.scratch)?;
            // `apply` borrows the whole client, so the buffer steps out for the call.
            let snapshot = std::mem::take(&mut self.scratch);
            let event = self.apply(&snapshot);
            self.scratch = snapshot;
            return Ok(event);
        }
        other_event(codec::decode_server_general(payload)?)
    }

    /// As `next_event`, but a snapshot is only read as far as its head (tick, baseline, last input seq) and its
    /// tick acknowledged without applying it: the replica stays empty and the event lists are empty. A load test's
    /// light clients use this to cost the server what a player costs while spending next to nothing themselves.
    pub async fn next_head(&mut self) -> Result<ServerEvent, ClientError> {
        let ws = self.ws.as_mut().ok_or(ClientError::NotConnected)?;
        let payload = next_binary_frame(ws, &mut self.stats).await?;
        if codec::is_snapshot(payload) {
            let (tick, baseline, last_input_seq) = codec::snapshot_head(payload)?;
            self.last_header = (tick, baseline);
            self.ack_tick = self.ack_tick.max(tick);
            match baseline {
                0 => self.stats.full_snapshots += 1,
                _ => self.stats.deltas += 1,
            }
            return Ok(ServerEvent::Snapshot { tick, baseline, last_input_seq, new_events: vec![], new_hits: vec![] });
        }
        other_event(codec::decode_server_general(payload)?)
    }

    /// Leaves: closes with 1000, which gives up the seat at once, and waits briefly for the server's answer.
    pub async fn leave(self) {
        self.close_with(close_code::NORMAL, b"bye").await;
    }

    /// The same as `leave`.
    pub async fn close(self) {
        self.leave().await;
    }

    /// Closes with 4100 ("keep my seat"): a clean close after which the server still holds the seat for the grace,
    /// so a later client with the token (see `resume_token`) can take it back.
    pub async fn close_keeping_seat(self) {
        self.close_with(close_code::KEEP_SEAT, b"back soon").await;
    }

    async fn close_with(mut self, code: u16, reason: &[u8]) {
        let Some(ws) = self.ws.as_mut() else { return };
        let _ = ws.send_close(code, reason).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            while let Ok((received, _)) = ws.next().await {
                if matches!(received, Received::Close(..)) {
                    break;
                }
            }
        })
        .await;
    }

    /// Ends the socket at once WITHOUT a close frame, as a network failure would; the server holds the seat for the
    /// grace. The client keeps its replica and resume token for `resume`; until then every send or read fails with
    /// `NotConnected`. Nothing is written: the socket sends nothing when dropped (it has no close-on-drop), and
    /// what hyper hands back under the upgrade is our own `TcpStream`, which is closed (or reset) right here.
    pub fn drop_connection(&mut self, how: Abrupt) {
        let Some(ws) = self.ws.take() else { return };
        let upgraded = ws.into_inner().into_inner();
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let stream = parts.io.into_inner();
                if how == Abrupt::Reset {
                    // Linger 0: close() discards unsent data and answers with an RST instead of a FIN.
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
                }
                drop(stream);
            }
            // Not our TcpStream underneath (cannot happen with `open`): dropping still closes it, with a FIN.
            Err(upgraded) => drop(upgraded),
        }
    }

    /// Takes the seat back over a new socket to `url`: sends the resume hello `[5, token, newest tick]`, waits for
    /// the welcome (the same player, in the same room), then reads the first snapshot, which is applied to the
    /// replica kept from before (a delta against the held tick, or a full one if the server no longer has it).
    ///
    /// A socket still open is dropped first, without a close frame (the server would close it with 4008 anyway).
    /// A refused resume is `ClientError::Closed` with code 4007 and the server's reason (`is_resume_refused`);
    /// the token is then spent or expired, and the seat lost. Nothing changes on this client until the welcome has
    /// arrived, so a resume cancelled before that (a timeout) leaves it as it was.
    pub async fn resume(&mut self, url: &str) -> Result<ResumeOutcome, ClientError> {
        let token = self.resume_token().ok_or(ClientError::NoSession)?.to_string();
        self.drop_connection(Abrupt::Fin);
        let held_tick = self.newest_tick();
        // Back to the process that holds the seat; another front door redirects there, which is followed.
        let mut url = self.server_url.clone().unwrap_or_else(|| url.to_string());
        let mut hops = 0;
        let (ws, welcome) = loop {
            let ws = open_through(&url, self.conditioner.as_deref()).await?;
            let mut ws = Socket::new(ws.into_inner(), MAX_SERVER_MESSAGE);
            let join = Some(Join::Resume { token: token.clone(), last_tick: held_tick });
            // The name is ignored for a resume (the seat keeps its own) but must still be a valid name string.
            let hello = codec::encode_client(&ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: String::new(),
                join,
                auth: None,
            });
            let hello_len = hello.len() as u64;
            ws.send_binary(&hello).await.map_err(FrameError::from)?;
            self.stats.bytes_out += hello_len;
            let payload = next_binary_frame(&mut ws, &mut self.stats).await?;
            match codec::decode_server(payload)? {
                ServerMessage::Welcome(welcome) => break (ws, welcome),
                ServerMessage::Close { code, reason } => return Err(ClientError::Closed { code, reason }),
                ServerMessage::Redirect { url: next, .. } if hops < MAX_REDIRECTS => {
                    hops += 1;
                    self.stats.redirects += 1;
                    self.server_url = Some(next.clone());
                    url = next;
                }
                other => return Err(ClientError::Unexpected(format!("expected welcome, got {other:?}"))),
            }
        };
        let before = (&self.welcome.room.id, self.welcome.player_id);
        if (&welcome.room.id, welcome.player_id) != before || welcome.room.role != Role::Player {
            return Err(ClientError::Unexpected(format!(
                "resumed as player {} ({:?}) in room {}, expected player {} in room {}",
                welcome.player_id, welcome.room.role, welcome.room.id, before.1, before.0
            )));
        }
        let input_seq = welcome.session.as_ref().map_or(0, |session| session.input_seq);
        // Seqs keep increasing across sockets: above what the server saw, and above anything sent before the drop
        // (inputs lost with the old socket do not make their seqs reusable).
        self.next_seq = self.next_seq.max(input_seq.saturating_add(1));
        self.ws = Some(ws);
        self.welcome = welcome;
        // Anything the old socket was about to read belongs to it; the first snapshot of this one tells the rest.
        loop {
            match self.next_event().await? {
                ServerEvent::Pong { .. } | ServerEvent::Roster { .. } | ServerEvent::Chat { .. } => {}
                event => {
                    let (tick, baseline) = self.last_header;
                    return Ok(ResumeOutcome { held_tick, input_seq, tick, baseline, event });
                }
            }
        }
    }
}

/// Reads frames until a binary one arrives and returns its payload (pings are answered, pongs skipped), counting
/// bytes in. A close frame or a text frame ends the session with an error.
async fn next_binary_frame<'f>(ws: &'f mut Socket, stats: &mut ClientStats) -> Result<&'f [u8], ClientError> {
    let (received, bytes_in) = ws.next().await?;
    stats.bytes_in += bytes_in;
    match received {
        Received::Binary => Ok(ws.payload()),
        Received::Close(code, reason) => Err(ClientError::Closed { code, reason }),
        Received::Unexpected(what) => Err(ClientError::Unexpected(what.into())),
    }
}

/// A server message other than a snapshot as the event it is (a close or anything unexpected as an error).
fn other_event(message: ServerMessage) -> Result<ServerEvent, ClientError> {
    match message {
        ServerMessage::Pong { nonce } => Ok(ServerEvent::Pong { nonce }),
        ServerMessage::Roster { tick, players } => Ok(ServerEvent::Roster { tick, players }),
        ServerMessage::Chat { tick, from, name, text } => Ok(ServerEvent::Chat { tick, from, name, text }),
        ServerMessage::Close { code, reason } => Err(ClientError::Closed { code, reason }),
        other => Err(ClientError::Unexpected(format!("{other:?}"))),
    }
}

/// Splits a close frame's payload into code and reason (1005 "no status" when empty).
pub fn parse_close(payload: &[u8]) -> (u16, String) {
    match payload {
        [a, b, reason @ ..] => (u16::from_be_bytes([*a, *b]), String::from_utf8_lossy(reason).into_owned()),
        _ => (1005, String::new()),
    }
}
