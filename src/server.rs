//! The network edge: the accept loop, HTTP routing (bundled client, `/healthz`, `/ws` upgrade), the room thread,
//! and graceful shutdown.
//!
//! The room runs on a thread of its own (a current-thread tokio runtime), so socket tasks on the main runtime can
//! never delay a tick. `start` binds and returns a handle; `RunningServer::shutdown` stops accepting, has the room
//! close every client with 1001, waits a bounded time for connections to finish, and re-raises a panic of the room
//! thread so that no caller mistakes a crashed room for a clean stop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
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
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::{Config, Limits};
use crate::connection::{self, ConnectionContext};
use crate::link::DisconnectReason;
use crate::room::{self, Room, RoomStats, SnapshotTap};
use crate::shutdown::stopping;
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

/// Capacity of the room's command queue, shared by all connections.
const ROOM_QUEUE: usize = 8192;

/// A started server.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub room_stats: Arc<RoomStats>,
    pub server_stats: Arc<ServerStats>,
    /// Present when `Config::record_snapshots` > 0.
    pub snapshots: Option<SnapshotTap>,
    shutdown: watch::Sender<bool>,
    accept_task: tokio::task::JoinHandle<()>,
    room_thread: std::thread::JoinHandle<()>,
}

/// Binds `config.addr` and starts the room and the accept loop.
pub async fn start(config: Config) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(config.addr).await?;
    let local_addr = listener.local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let room_stats = Arc::new(RoomStats::default());
    let server_stats = Arc::new(ServerStats::default());
    let snapshots: Option<SnapshotTap> = (config.record_snapshots > 0).then(Default::default);

    let (room_tx, room_rx) = mpsc::channel(ROOM_QUEUE);
    let room = Room::new(&config, room_stats.clone(), snapshots.clone());
    let room_shutdown = shutdown_rx.clone();
    let room_thread = std::thread::Builder::new().name("room".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("room runtime");
        runtime.block_on(room::run(room, room_rx, room_shutdown));
    })?;

    let site = Arc::new(Site {
        context: ConnectionContext::new(&config, room_tx, server_stats.clone()),
        room_stats: room_stats.clone(),
        server_stats: server_stats.clone(),
        tick_rate: config.tick_rate,
        max_players: config.max_players,
        open_sockets: watch::channel(0).0,
        counts: Mutex::new(ConnectionCounts::default()),
    });
    info!(%local_addr, tick_rate = config.tick_rate, map = %config.map.name, "listening");
    let accept_task = tokio::spawn(accept_loop(listener, site, shutdown_rx));
    Ok(RunningServer { local_addr, room_stats, server_stats, snapshots, shutdown, accept_task, room_thread })
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
        let room_thread = self.room_thread;
        match tokio::task::spawn_blocking(move || room_thread.join()).await {
            Ok(Ok(())) => info!("server stopped"),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
        }
    }

    /// Whether the room thread has ended (it only ends on shutdown, or by panicking).
    pub fn room_stopped(&self) -> bool {
        self.room_thread.is_finished()
    }
}

struct Site {
    context: ConnectionContext,
    room_stats: Arc<RoomStats>,
    server_stats: Arc<ServerStats>,
    tick_rate: u32,
    max_players: usize,
    /// Open WebSocket sessions; shutdown waits for this to reach zero.
    open_sockets: watch::Sender<usize>,
    counts: Mutex<ConnectionCounts>,
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
        tokio::spawn(async move {
            let service = service_fn({
                let (site, permit) = (site.clone(), permit.clone());
                move |request| {
                    let (site, permit) = (site.clone(), permit.clone());
                    async move { Ok::<_, Infallible>(route(request, peer, &site, permit)) }
                }
            });
            // The header timeout drops clients that trickle their request in (slow-loris).
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(site.limits().handshake_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(error) = connection.await {
                if error.is_timeout() {
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

fn route(
    mut request: Request<Incoming>,
    peer: SocketAddr,
    site: &Arc<Site>,
    permit: Arc<Permit>,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
    }
    match request.uri().path() {
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
        "/healthz" => {
            let stats = &site.room_stats;
            let ticks = stats.tick_micros.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
            let body = serde_json::json!({
                "status": "ok",
                "tick": stats.tick.load(Ordering::Relaxed),
                "tick_rate": site.tick_rate,
                "players": stats.players.load(Ordering::Relaxed),
                "max_players": site.max_players,
                "connections": site.server_stats.connections.load(Ordering::Relaxed),
                "websockets": site.server_stats.websockets.load(Ordering::Relaxed),
                "tick_overruns": stats.overruns.load(Ordering::Relaxed),
                "tick_slots_skipped": stats.slots_skipped.load(Ordering::Relaxed),
                "violations": site.server_stats.violations.load(Ordering::Relaxed),
                "messages_dropped": site.server_stats.messages_dropped.load(Ordering::Relaxed),
                "connections_refused": site.server_stats.refused.load(Ordering::Relaxed),
                "frames_dropped": stats.frames_dropped.load(Ordering::Relaxed),
                "inputs_repeated": stats.inputs_repeated.load(Ordering::Relaxed),
                "inputs_skipped": stats.inputs_skipped.load(Ordering::Relaxed),
                "last_tick_micros": stats.last_tick_micros.load(Ordering::Relaxed),
                "max_tick_micros": stats.max_tick_micros.load(Ordering::Relaxed),
                "tick_micros_p50": ticks.quantile(0.5),
                "tick_micros_p99": ticks.quantile(0.99),
                "frames_sent": stats.frames_sent.load(Ordering::Relaxed),
                "bytes_sent": stats.bytes_sent.load(Ordering::Relaxed),
                "disconnects": site.server_stats.disconnects.all()
                    .map(|(reason, count)| (reason.name().to_string(), serde_json::Value::from(count)))
                    .collect::<serde_json::Map<_, _>>(),
            });
            Response::builder()
                .header(CONTENT_TYPE, "application/json")
                .header(CACHE_CONTROL, "no-store")
                .body(Full::new(Bytes::from(body.to_string())))
                .expect("static response parts are valid")
        }
        path => static_file(path),
    }
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
