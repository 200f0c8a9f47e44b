//! The network edge: the accept loop, HTTP routing (bundled client, `/healthz`, `/metrics`, the dashboard and its
//! data, the lobby's `/rooms` and `/maps`, `/ws` upgrade), the room pool, and graceful shutdown.
//!
//! The rooms run on a pool of their own (a multi-threaded tokio runtime, about one thread per core), so socket tasks
//! on the main runtime never delay a tick. `start` binds and returns a handle; `RunningServer::shutdown` stops
//! accepting, has every room close its clients with 1001, waits a bounded time for connections to finish, and
//! re-raises a room's panic so that no caller mistakes a crashed room for a clean stop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, ORIGIN};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::conditioner::{Conditioner, LinkStream};
use crate::directory::{run_heartbeat, Directory, ListedRoom};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::auth::Authenticator;
use crate::config::{Limits, ServerConfig, BUNDLED_MAPS, ROOM_MAP_SIDES};
use crate::connection::{self, ConnectionContext};
use crate::link::DisconnectReason;
use crate::lobby::{Lobby, LobbyError};
use crate::protocol::RoomOptions;
use crate::shutdown::stopping;
use crate::telemetry::access::MetricsToken;
use crate::telemetry::census::Census;
use crate::telemetry::exposition::{self, Metrics};
use crate::telemetry::health::{Health, Status};
use crate::telemetry::ServerStats;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/client_files.rs"));
}

/// Marks the calling thread as a batch thread (Linux `SCHED_BATCH`), for the network runtime's threads.
///
/// A batch thread never preempts another thread when it wakes up. When the whole server shares one core, the room
/// thread then finishes its tick without being switched out each time a frame it queues wakes a writer; the
/// writers run right after, all at once. With cores to spare nothing changes. Elsewhere than Linux, a no-op.
pub fn yield_to_the_room_thread() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain system call on the calling thread (pid 0) with a valid parameter; any user may choose
        // SCHED_BATCH. Failure only leaves the default policy, so its result is not needed.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
}

/// Largest `POST /rooms` body accepted.
const MAX_ROOM_REQUEST_BYTES: usize = 4096;

/// A started server.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub lobby: Arc<Lobby>,
    pub server_stats: Arc<ServerStats>,
    shutdown: watch::Sender<bool>,
    accept_task: tokio::task::JoinHandle<()>,
    /// The room pool; dropped (in the background) once every room has stopped.
    pool: tokio::runtime::Runtime,
    /// The shared room directory (`--redis`).
    pub directory: Option<Arc<Directory>>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

/// Binds `config.addr` and starts the room pool, the lobby and the accept loop. No room exists until someone
/// creates one (`POST /rooms`, a hello that creates, or quick play finding none with space).
pub async fn start(config: ServerConfig) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(config.addr).await?;
    let local_addr = listener.local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let server_stats = Arc::new(ServerStats::default());
    let pool = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.room_threads)
        .thread_name("room")
        .enable_time()
        .build()?;
    let lobby = Lobby::new(&config, pool.handle().clone(), shutdown_rx.clone());

    let conditioner = match config.link.clone() {
        Some(_) if !local_addr.ip().is_loopback() && !config.link_allow_public => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the link conditioner runs on loopback only, not on {local_addr} (--link-allow-public)"),
            ));
        }
        Some(profile) => {
            // Loud on purpose: a server that delays its players' traffic must never pass for a normal one.
            warn!(%local_addr, profile = %profile.describe(), "LINK CONDITIONER ON: connections are delayed on purpose");
            Some(Arc::new(Conditioner::new(profile, config.room.seed)))
        }
        None => None,
    };
    if config.metrics_token.is_none() && !local_addr.ip().is_loopback() {
        // Room ids (private ones too) and the server's load would be readable by anyone who reaches it.
        warn!(%local_addr, "not on loopback and no --metrics-token: /metrics, /dashboard and /healthz are open");
    }
    let directory = match config.directory.clone() {
        Some(mut directory) => {
            if directory.public_url.is_empty() {
                directory.public_url = format!("ws://{local_addr}/ws");
            }
            let url = directory.public_url.clone();
            let directory = Directory::connect(directory)
                .await
                .map_err(|error| std::io::Error::other(format!("the room directory: {error}")))?;
            info!(proc = directory.proc_id(), %url, "joined the room directory");
            lobby.set_directory(directory.clone());
            Some(directory)
        }
        None => None,
    };
    let heartbeat =
        directory.clone().map(|directory| tokio::spawn(run_heartbeat(directory, lobby.clone(), shutdown_rx.clone())));
    let site = Arc::new(Site {
        context: ConnectionContext::new(&config, lobby.clone(), server_stats.clone(), directory.clone()),
        metrics: Metrics::new(server_stats.clone(), lobby.clone()),
        metrics_token: config.metrics_token.clone(),
        server_stats: server_stats.clone(),
        open_sockets: watch::channel(0).0,
        counts: Mutex::new(ConnectionCounts::default()),
        conditioner,
    });
    info!(%local_addr, room_threads = config.room_threads, max_rooms = config.max_rooms, "listening");
    let accept_task = tokio::spawn(accept_loop(listener, site, shutdown_rx));
    Ok(RunningServer { local_addr, lobby, server_stats, shutdown, accept_task, pool, directory, heartbeat })
}

impl RunningServer {
    /// Stops accepting, closes every client with 1001 "server shutting down", and waits (bounded) for the
    /// connections and the room to finish.
    ///
    /// # Panics
    /// With the room thread's own panic, if it panicked: a crashed room must fail whoever stops the server (the
    /// tests, and the binary, which then exits non-zero), not pass for a clean stop.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept_task.await;
        if let Some(heartbeat) = self.heartbeat {
            // It leaves the directory on its way out.
            let _ = heartbeat.await;
        }
        let RunningServer { lobby, pool, .. } = self;
        // Re-raises a room's panic, after every room has stopped; the pool goes either way.
        let stopped = tokio::spawn(async move { lobby.join_all().await }).await;
        pool.shutdown_background();
        match stopped {
            Ok(()) => info!("server stopped"),
            Err(failure) => std::panic::resume_unwind(failure.into_panic()),
        }
    }

    /// Drains (SIGTERM with a room directory): takes no new players and leaves the directory's quick play, lets
    /// the matches run until every room is empty or `deadline` has passed, then shuts down. Without a directory it
    /// is `shutdown`.
    pub async fn drain(self, deadline: std::time::Duration) {
        if let Some(directory) = &self.directory {
            let players = |lobby: &Lobby| lobby.all().iter().map(|room| room.players()).sum::<usize>();
            info!(players = players(&self.lobby), ?deadline, "draining: no new players, matches run to their end");
            if let Err(error) = directory.start_draining(&self.lobby).await {
                warn!(%error, "could not tell the directory this process drains; its quick play still skips it");
            }
            let until = tokio::time::Instant::now() + deadline;
            while players(&self.lobby) > 0 && tokio::time::Instant::now() < until {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
        self.shutdown().await;
    }

    /// Rooms whose task panicked so far (a panic fails `shutdown`).
    pub fn room_panics(&self) -> u64 {
        self.lobby.room_panics.load(Ordering::Relaxed)
    }
}

struct Site {
    context: ConnectionContext,
    /// The registry behind `/metrics`.
    metrics: Metrics,
    /// When set, `/metrics`, the dashboard and the full `/healthz` need it.
    metrics_token: Option<MetricsToken>,
    server_stats: Arc<ServerStats>,
    /// Open WebSocket sessions; shutdown waits for this to reach zero.
    open_sockets: watch::Sender<usize>,
    counts: Mutex<ConnectionCounts>,
    /// Set when the link conditioner is on (`--link-*`).
    conditioner: Option<Arc<Conditioner>>,
}

impl Site {
    fn limits(&self) -> &Limits {
        &self.context.limits
    }
}

/// Open TCP connections, in total and per remote address, checked at accept time.
#[derive(Default)]
struct ConnectionCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it gives its place back.
struct Permit {
    site: Arc<Site>,
    ip: IpAddr,
}

impl Permit {
    fn admit(site: &Arc<Site>, ip: IpAddr) -> Result<Permit, &'static str> {
        let mut counts = site.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if counts.total >= site.limits().max_connections {
            return Err("server at its connection limit");
        }
        let from_ip = counts.per_ip.entry(ip).or_insert(0);
        if *from_ip >= site.limits().max_connections_per_ip {
            return Err("too many connections from this address");
        }
        *from_ip += 1;
        counts.total += 1;
        site.server_stats.connections.store(counts.total, Ordering::Relaxed);
        Ok(Permit { site: site.clone(), ip })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.site.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.total -= 1;
        if let Some(from_ip) = counts.per_ip.get_mut(&self.ip) {
            *from_ip -= 1;
            if *from_ip == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
        self.site.server_stats.connections.store(counts.total, Ordering::Relaxed);
    }
}

/// Answers a connection over the limits with a bare 503 and closes it, without tying up the accept loop.
fn refuse(mut stream: TcpStream, peer: SocketAddr, why: &'static str, stats: &ServerStats) {
    stats.refused.fetch_add(1, Ordering::Relaxed);
    warn!(%peer, reason = why, "refusing connection");
    tokio::spawn(async move {
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}\n",
            why.len() + 1
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response.as_bytes())).await;
    });
}

/// A TCP stream that counts the bytes read from it (the HTTP connection's, then the WebSocket's if it upgrades).
struct CountingStream {
    stream: LinkStream,
    received: Arc<AtomicU64>,
}

impl CountingStream {
    fn new(stream: LinkStream) -> (CountingStream, Arc<AtomicU64>) {
        let received = Arc::new(AtomicU64::new(0));
        (CountingStream { stream, received: received.clone() }, received)
    }
}

impl tokio::io::AsyncRead for CountingStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.received.fetch_add(read as u64, Ordering::Relaxed);
        }
        poll
    }
}

impl tokio::io::AsyncWrite for CountingStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

async fn accept_loop(listener: TcpListener, site: Arc<Site>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = stopping(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match Permit::admit(&site, peer.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                refuse(stream, peer, why, &site.server_stats);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(site.limits().send_buffer_bytes);
        let site = site.clone();
        // Shared with the WebSocket task, if the connection upgrades: the place is held until the socket closes.
        let permit = Arc::new(permit);
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let stream = match &site.conditioner {
                Some(conditioner) => conditioner.wrap(stream),
                None => LinkStream::Direct(stream),
            };
            let (stream, received) = CountingStream::new(stream);
            // Bytes received when the last answer was made: more than that at a header timeout is a request that
            // trickles in (slow-loris), none is only an idle connection (a browser's kept-alive or preconnected one).
            let answered = Arc::new(AtomicU64::new(0));
            let service = service_fn({
                let (site, permit, received, answered) =
                    (site.clone(), permit.clone(), received.clone(), answered.clone());
                move |request| {
                    let (site, permit, received, answered) =
                        (site.clone(), permit.clone(), received.clone(), answered.clone());
                    async move {
                        let response = route(request, peer, &site, permit).await;
                        answered.store(received.load(Ordering::Relaxed), Ordering::Relaxed);
                        Ok::<_, Infallible>(response)
                    }
                }
            });
            // The header timeout drops clients that trickle their request in (slow-loris).
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(site.limits().handshake_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            // On shutdown a kept-alive HTTP connection finishes the request in hand, if any, and closes, rather than
            // answer on after the server is gone. (An upgraded WebSocket has left this future already.)
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                _ = stopping(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = outcome {
                let partial = received.load(Ordering::Relaxed) > answered.load(Ordering::Relaxed);
                if error.is_timeout() && !partial {
                    debug!(%peer, "closing an idle HTTP connection");
                } else if error.is_timeout() {
                    site.server_stats.violations.fetch_add(1, Ordering::Relaxed);
                    site.server_stats.disconnects.record(DisconnectReason::HandshakeTimeout);
                    warn!(%peer, "dropping connection: HTTP request not received within the handshake timeout");
                } else {
                    debug!(%peer, %error, "http connection ended with an error");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let mut open = site.open_sockets.subscribe();
    if tokio::time::timeout(site.limits().shutdown_grace, open.wait_for(|count| *count == 0)).await.is_err() {
        warn!("some connections did not finish within the shutdown grace period");
    }
}

async fn route(
    mut request: Request<Incoming>,
    peer: SocketAddr,
    site: &Arc<Site>,
    permit: Arc<Permit>,
) -> Response<Full<Bytes>> {
    if request.method() == Method::POST && request.uri().path() == "/rooms" {
        return create_room(request, peer, site).await;
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here (and POST /rooms)\n");
    }
    let lobby = &site.context.lobby;
    // Without a token configured, everything is open (the default, meant for loopback).
    let authorized = site.metrics_token.as_ref().is_none_or(|token| {
        let authorization = request.headers().get(hyper::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        token.permits(authorization, request.uri().query())
    });
    match request.uri().path() {
        // A load balancer's health check needs no token: without one it learns only that the server answers.
        "/healthz" if !authorized => json(StatusCode::OK, &Status::OK),
        "/healthz" | "/dashboard/data" if authorized => json(StatusCode::OK, &Health::of(&census(site))),
        "/metrics" | "/dashboard" | "/dashboard.html" | "/dashboard/data" if !authorized => unauthorized(),
        "/metrics" => metrics(site),
        "/dashboard" => static_file("/dashboard.html"),
        "/rooms" => match &site.context.directory {
            // Every process's rooms, most players first; this process's own if the directory is away.
            Some(directory) => match directory.list().await {
                Ok(mut rooms) => {
                    rooms.sort_by_key(|room| (std::cmp::Reverse(room.players), room.created_ms));
                    json(StatusCode::OK, &rooms.iter().map(ListedRoom::summary).collect::<Vec<_>>())
                }
                Err(error) => {
                    warn!(%error, "GET /rooms from this process's rooms only: the directory is away");
                    json(StatusCode::OK, &lobby.list())
                }
            },
            None => json(StatusCode::OK, &lobby.list()),
        },
        "/maps" => {
            let bundled: Vec<&str> = BUNDLED_MAPS.iter().map(|(name, _)| *name).collect();
            let generated = format!("WIDTHxHEIGHT, each side {} to {}", ROOM_MAP_SIDES.start(), ROOM_MAP_SIDES.end());
            json(StatusCode::OK, &serde_json::json!({ "bundled": bundled, "generated": generated }))
        }
        path if path.starts_with("/rooms/") => match lobby.find(&path["/rooms/".len()..]) {
            Ok(room) => json(StatusCode::OK, &room.summary()),
            Err(error) => json(StatusCode::NOT_FOUND, &serde_json::json!({ "error": error.to_string() })),
        },
        "/ws" => {
            if !fastwebsockets::upgrade::is_upgrade_request(&request) {
                return plain(StatusCode::UPGRADE_REQUIRED, "this endpoint speaks WebSocket only\n");
            }
            let allowed = &site.limits().allowed_origins;
            if !allowed.is_empty() {
                let origin = request.headers().get(ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("");
                if !allowed.iter().any(|a| a == origin) {
                    warn!(%peer, origin, "refusing WebSocket from an origin not in the allow-list");
                    return plain(StatusCode::FORBIDDEN, "origin not allowed\n");
                }
            }
            // RFC 6455 section 4.4: a version the server does not speak is answered 426 with the one it does.
            let version = request.headers().get("Sec-WebSocket-Version").and_then(|v| v.to_str().ok());
            if version.map(str::trim) != Some("13") {
                let mut response = plain(
                    StatusCode::UPGRADE_REQUIRED,
                    &format!("unsupported Sec-WebSocket-Version {:?}: this server speaks 13\n", version.unwrap_or("")),
                );
                response.headers_mut().insert("Sec-WebSocket-Version", hyper::header::HeaderValue::from_static("13"));
                return response;
            }
            let (response, upgrade) = match fastwebsockets::upgrade::upgrade(&mut request) {
                Ok(pair) => pair,
                Err(error) => return plain(StatusCode::BAD_REQUEST, &format!("bad WebSocket upgrade: {error}\n")),
            };
            let site = site.clone();
            site.open_sockets.send_modify(|count| *count += 1);
            site.server_stats.websockets.fetch_add(1, Ordering::Relaxed);
            // The 101 response must go out before the upgrade completes, so the socket is served in its own task.
            tokio::spawn(async move {
                match upgrade.await {
                    Ok(ws) => connection::serve(ws, peer, site.context.clone()).await,
                    Err(error) => debug!(%peer, %error, "WebSocket upgrade failed"),
                }
                site.server_stats.websockets.fetch_sub(1, Ordering::Relaxed);
                site.open_sockets.send_modify(|count| *count -= 1);
                drop(permit);
            });
            let (parts, _) = response.into_parts();
            Response::from_parts(parts, Full::new(Bytes::new()))
        }
        path => static_file(path),
    }
}

/// `POST /rooms`: creates a room from the JSON body's options; 201 with the room as listed, 400 with the reason
/// for bad options, 413 for a body over the limit, 503 at the room limit.
async fn create_room(request: Request<Incoming>, peer: SocketAddr, site: &Arc<Site>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let error = |status, message: String| json(status, &serde_json::json!({ "error": message }));
    if let Some(authenticator) = &site.context.auth {
        if let Err(refusal) = may_create_rooms(authenticator, &request) {
            warn!(%peer, status = refusal.0.as_u16(), reason = %refusal.1, "refusing POST /rooms");
            let mut response = error(refusal.0, refusal.1);
            if refusal.0 == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert("WWW-Authenticate", hyper::header::HeaderValue::from_static("Bearer"));
            }
            return response;
        }
    }
    let body = match http_body_util::Limited::new(request.into_body(), MAX_ROOM_REQUEST_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body must be a JSON object of at most {MAX_ROOM_REQUEST_BYTES} bytes"),
            );
        }
    };
    // An empty body asks for a room with every default.
    let options: RoomOptions = if body.iter().all(u8::is_ascii_whitespace) {
        RoomOptions::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(options) => options,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad room options: {e}")),
        }
    };
    match site.context.lobby.create_for(&options, peer.ip()) {
        Ok(room) => {
            info!(%peer, room = %room.id, "room created over HTTP");
            json(StatusCode::CREATED, &room.summary())
        }
        Err(failure @ LobbyError::BadOptions(_)) => error(StatusCode::BAD_REQUEST, failure.to_string()),
        Err(failure @ LobbyError::CreationQuota { .. }) => error(StatusCode::TOO_MANY_REQUESTS, failure.to_string()),
        Err(failure) => error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string()),
    }
}

/// With authentication on, creating a room over HTTP takes a join token (`Authorization: Bearer`) whose claims allow
/// it: 401 without a valid one, 403 with one that does not allow creating.
fn may_create_rooms(authenticator: &Authenticator, request: &Request<Incoming>) -> Result<(), (StatusCode, String)> {
    let header = request.headers().get(hyper::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let token = header.and_then(|value| value.strip_prefix("Bearer ")).map(str::trim);
    let claims = authenticator
        .verify_optional(token, crate::auth::unix_now())
        .map_err(|error| (StatusCode::UNAUTHORIZED, error.to_string()))?;
    match claims.create {
        true => Ok(()),
        false => Err((StatusCode::FORBIDDEN, "join token does not allow creating rooms".into())),
    }
}

/// The edge's and every open room's counters, read now: what `/healthz` and `/dashboard/data` serialize (and what
/// `/metrics`'s collector reads at each scrape).
fn census(site: &Site) -> Census {
    Census::take(&site.server_stats, &site.context.lobby)
}

/// `GET /metrics`: the Prometheus text exposition.
fn metrics(site: &Site) -> Response<Full<Bytes>> {
    match site.metrics.render() {
        Ok(text) => Response::builder()
            .header(CONTENT_TYPE, exposition::CONTENT_TYPE)
            .header(CACHE_CONTROL, "no-store")
            .body(Full::new(Bytes::from(text)))
            .expect("static response parts are valid"),
        // Writing to a String does not fail; an encoder that did must not take the server down.
        Err(error) => {
            warn!(%error, "encoding /metrics failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "metrics could not be encoded\n")
        }
    }
}

/// 401 for a request to a token-protected route without the token.
fn unauthorized() -> Response<Full<Bytes>> {
    let mut response = plain(
        StatusCode::UNAUTHORIZED,
        "this server wants its metrics token: Authorization: Bearer TOKEN, or ?token=TOKEN\n",
    );
    response.headers_mut().insert("WWW-Authenticate", hyper::header::HeaderValue::from_static("Bearer"));
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).expect("lobby values serialize");
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// Serves a bundled client file; `/` is `index.html`.
fn static_file(path: &str) -> Response<Full<Bytes>> {
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        name => name,
    };
    match embedded::CLIENT_FILES.iter().find(|(file, _)| *file == name) {
        Some((file, contents)) => Response::builder()
            .header(CONTENT_TYPE, content_type(file))
            .header(CACHE_CONTROL, "no-cache")
            .body(Full::new(Bytes::from_static(contents)))
            .expect("static response parts are valid"),
        None => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(text.to_owned())))
        .expect("static response parts are valid")
}
