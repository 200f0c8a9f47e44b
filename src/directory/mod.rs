//! The room directory several server processes share through Redis (`--redis`): each process registers itself
//! and its rooms under keys that expire unless its heartbeat refreshes them, so a process that crashes leaves the
//! directory within a TTL, with no cleanup job; quick play and `GET /rooms` read bounded index ranges, never the
//! whole directory; a player sent to another process carries a signed seat token (`seat`) backed by a reservation
//! that the room's capacity counts until the token is used or expires.
//!
//! Keys (`P` is `--redis-prefix`, default `skirmish`):
//! - `P:proc:ID` hash `url players rooms draining`, expiring after the TTL; `P:procs` sorted set of process ids by
//!   players (the least-loaded first).
//! - `P:room:ID` hash `proc url name map players max spectators private created`, expiring after the TTL;
//!   `P:rooms` sorted set of public room ids by creation time (the listing); `P:open` and `P:open:MAP` sorted sets of
//!   public rooms with a free seat by players (quick play reads the fullest first).
//! - `P:resv:ROOM` sorted set of seat reservations by expiry; `P:used:JTI` marks a spent seat token.
//!
//! Sorted-set members have no TTL of their own: a reader that finds a member whose hash has expired removes it
//! (a crashed process's rooms go from the indexes as soon as anyone looks). Every call has a deadline: with Redis
//! away the process keeps its matches running and serves joins from its own rooms (`session`).

pub mod seat;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::lobby::Lobby;

pub use seat::{SeatClaims, SeatError, SeatSigner};

/// Index entries read per query: quick play looks at the fullest rooms only, the listing pages at most this many.
const CANDIDATES: isize = 16;
/// The most rooms `GET /rooms` lists from the directory.
pub const LIST_LIMIT: isize = 200;
/// A directory call that takes longer than this counts as Redis being away.
const CALL_DEADLINE: Duration = Duration::from_millis(800);

/// What a process needs to join the directory.
#[derive(Clone, Debug)]
pub struct DirectoryConfig {
    /// `redis://host:port/db`.
    pub redis_url: String,
    pub prefix: String,
    /// The WebSocket URL other processes send players to, e.g. `ws://10.0.0.5:8080/ws`.
    pub public_url: String,
    /// Entries expire this long after the last heartbeat; the heartbeat runs three times per TTL.
    pub ttl: Duration,
    /// Signs and checks seat tokens; every process of the directory has the same.
    pub secret: Vec<u8>,
    /// How long a seat token (and its reservation) lives.
    pub seat_ttl: Duration,
}

#[derive(Debug, Error)]
pub enum DirectoryError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Seat(#[from] SeatError),
    #[error("could not open a room: {0}")]
    Creation(String),
}

/// A room as the directory lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListedRoom {
    pub id: String,
    /// The process holding it, and where players reach that process.
    pub proc: String,
    pub url: String,
    pub name: String,
    pub map: String,
    pub players: usize,
    pub max_players: usize,
    pub spectators: usize,
    pub private: bool,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub max_spectators: usize,
    pub tick_rate: u32,
    pub view_radius: f32,
}

impl ListedRoom {
    /// The room in `GET /rooms`'s JSON: a local room's fields, plus the process and its URL.
    pub fn summary(&self) -> serde_json::Value {
        let created = UNIX_EPOCH + Duration::from_millis(self.created_ms);
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "map": self.map,
            "players": self.players,
            "spectators": self.spectators,
            "max_players": self.max_players,
            "max_spectators": self.max_spectators,
            "tick_rate": self.tick_rate,
            "view_radius": self.view_radius,
            "private": self.private,
            "created_at": crate::lobby::rfc3339(created),
            "server": self.url,
            "process": self.proc,
        })
    }
}

/// A registered process.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcInfo {
    pub id: String,
    pub url: String,
    pub players: usize,
}

/// Counters for `/healthz` and `/metrics`.
#[derive(Debug, Default)]
pub struct DirectoryStats {
    /// Redis commands sent (a pipeline counts each of its commands).
    pub commands: AtomicU64,
    pub errors: AtomicU64,
    pub heartbeats: AtomicU64,
    /// Whether the last call reached Redis.
    pub reachable: AtomicBool,
    pub redirects: AtomicU64,
    pub seats_redeemed: AtomicU64,
    pub seats_refused: AtomicU64,
}

/// This process's handle on the shared directory.
pub struct Directory {
    con: ConnectionManager,
    config: DirectoryConfig,
    proc_id: String,
    seats: SeatSigner,
    pub stats: DirectoryStats,
    /// Set on SIGTERM: the process leaves the indexes new players are sent from.
    draining: AtomicBool,
    /// Rooms published by the last heartbeat, to unlist those that closed since.
    published: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("proc", &self.proc_id).field("url", &self.config.public_url).finish()
    }
}

/// Milliseconds since the Unix epoch (the directory's clock: expiries are compared across processes).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Atomically: prune expired reservations of a room, check its free seats (players + live reservations below
/// max), and add one. Returns 1 when reserved, 0 when the room is full, -1 when the room is gone.
const RESERVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local players = tonumber(redis.call('HGET', KEYS[1], 'players') or '0')
local max = tonumber(redis.call('HGET', KEYS[1], 'max') or '0')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if players + redis.call('ZCARD', KEYS[2]) >= max then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
";

impl Directory {
    /// Connects to Redis (refusing to start when it cannot) and registers nothing yet: the heartbeat does.
    pub async fn connect(config: DirectoryConfig) -> Result<Arc<Directory>, DirectoryError> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let con = tokio::time::timeout(CALL_DEADLINE * 4, ConnectionManager::new(client))
            .await
            .map_err(|_| DirectoryError::Timeout(CALL_DEADLINE * 4))??;
        let seats = SeatSigner::new(&config.secret)?;
        let directory = Directory {
            con,
            proc_id: crate::lobby::random_id(),
            seats,
            config,
            stats: DirectoryStats::default(),
            draining: AtomicBool::new(false),
            published: Mutex::new(HashSet::new()),
        };
        directory.stats.reachable.store(true, Ordering::Relaxed);
        Ok(Arc::new(directory))
    }

    pub fn proc_id(&self) -> &str {
        &self.proc_id
    }

    pub fn public_url(&self) -> &str {
        &self.config.public_url
    }

    pub fn seats(&self) -> &SeatSigner {
        &self.seats
    }

    pub fn seat_ttl(&self) -> Duration {
        self.config.seat_ttl
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.config.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    /// Runs a pipeline of `commands` commands with the call deadline, counting it.
    async fn run<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        commands: usize,
    ) -> Result<T, DirectoryError> {
        let mut con = self.con.clone();
        self.call(commands, pipe.query_async::<T>(&mut con)).await
    }

    /// Awaits one Redis call of `commands` commands within the call deadline, counting it, its failure, and
    /// whether Redis answered.
    async fn call<T>(
        &self,
        commands: usize,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, DirectoryError> {
        self.stats.commands.fetch_add(commands as u64, Ordering::Relaxed);
        let result = match tokio::time::timeout(CALL_DEADLINE, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(DirectoryError::Redis(error)),
            Err(_) => Err(DirectoryError::Timeout(CALL_DEADLINE)),
        };
        self.stats.reachable.store(result.is_ok(), Ordering::Relaxed);
        if result.is_err() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Publishes this process and its rooms, refreshing their TTLs, and unlists rooms closed since the last call.
    /// Also reads each room's live reservations back into the lobby, so local quick play counts them as taken.
    pub async fn heartbeat(&self, lobby: &Lobby) -> Result<(), DirectoryError> {
        let ttl = self.config.ttl.as_millis() as u64;
        let draining = self.is_draining();
        let rooms = lobby.all();
        let players: usize = rooms.iter().map(|room| room.players()).sum();
        let proc_key = self.key(&["proc", &self.proc_id]);
        let mut pipe = redis::pipe();
        let mut commands = 0;
        pipe.cmd("HSET")
            .arg(&proc_key)
            .arg("url")
            .arg(&self.config.public_url)
            .arg("players")
            .arg(players)
            .arg("rooms")
            .arg(rooms.len())
            .arg("draining")
            .arg(u8::from(draining))
            .ignore();
        pipe.cmd("PEXPIRE").arg(&proc_key).arg(ttl).ignore();
        commands += 2;
        match draining {
            true => pipe.cmd("ZREM").arg(self.key(&["procs"])).arg(&self.proc_id).ignore(),
            false => pipe.cmd("ZADD").arg(self.key(&["procs"])).arg(players).arg(&self.proc_id).ignore(),
        };
        commands += 1;
        let now = now_ms();
        let mut live = HashSet::new();
        for room in &rooms {
            let room_key = self.key(&["room", &room.id]);
            let created = room.created_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            pipe.cmd("HSET")
                .arg(&room_key)
                .arg("proc")
                .arg(&self.proc_id)
                .arg("url")
                .arg(&self.config.public_url)
                .arg("name")
                .arg(&room.name)
                .arg("map")
                .arg(&room.map)
                .arg("players")
                .arg(room.players())
                .arg("max")
                .arg(room.max_players)
                .arg("spectators")
                .arg(room.spectators())
                .arg("private")
                .arg(u8::from(room.private))
                .arg("created")
                .arg(created)
                .arg("max_spectators")
                .arg(room.max_spectators)
                .arg("tick_rate")
                .arg(room.tick_rate)
                .arg("view_radius")
                .arg(room.view_radius)
                .ignore();
            pipe.cmd("PEXPIRE").arg(&room_key).arg(ttl).ignore();
            let (open, open_map) = (self.key(&["open"]), self.key(&["open", &room.map]));
            if !room.private {
                pipe.cmd("ZADD").arg(self.key(&["rooms"])).arg(created).arg(&room.id).ignore();
            }
            let has_room = room.players() + room.reserved() < room.max_players;
            if !room.private && !draining && has_room {
                pipe.cmd("ZADD").arg(&open).arg(room.players()).arg(&room.id).ignore();
                pipe.cmd("ZADD").arg(&open_map).arg(room.players()).arg(&room.id).ignore();
            } else {
                pipe.cmd("ZREM").arg(&open).arg(&room.id).ignore();
                pipe.cmd("ZREM").arg(&open_map).arg(&room.id).ignore();
            }
            let reservations = self.key(&["resv", &room.id]);
            pipe.cmd("ZREMRANGEBYSCORE").arg(&reservations).arg("-inf").arg(now).ignore();
            pipe.cmd("ZCARD").arg(&reservations);
            commands += 8;
            live.insert(room.id.clone());
        }
        let closed: Vec<String> = {
            let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
            let closed = published.difference(&live).cloned().collect();
            *published = live;
            closed
        };
        for id in &closed {
            pipe.cmd("DEL").arg(self.key(&["room", id])).ignore();
            pipe.cmd("ZREM").arg(self.key(&["rooms"])).arg(id).ignore();
            pipe.cmd("ZREM").arg(self.key(&["open"])).arg(id).ignore();
            commands += 3;
        }
        let reserved: Vec<usize> = self.run(&pipe, commands).await?;
        for (room, reserved) in rooms.iter().zip(reserved) {
            room.set_reserved(reserved);
        }
        self.stats.heartbeats.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the hashes of `ids` (one pipeline), dropping from `index` the ids whose hash has expired.
    async fn rooms_by_id(&self, ids: Vec<String>, indexes: &[String]) -> Result<Vec<ListedRoom>, DirectoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.key(&["room", id]));
        }
        let hashes: Vec<HashMap<String, String>> = self.run(&pipe, ids.len()).await?;
        let mut rooms = Vec::with_capacity(ids.len());
        let mut stale = Vec::new();
        for (id, hash) in ids.into_iter().zip(hashes) {
            match listed(id.clone(), &hash) {
                Some(room) => rooms.push(room),
                None => stale.push(id),
            }
        }
        if !stale.is_empty() {
            let mut pipe = redis::pipe();
            for index in indexes {
                pipe.cmd("ZREM").arg(index).arg(&stale).ignore();
            }
            // Best effort: the next reader tries again.
            let _: Result<(), _> = self.run(&pipe, indexes.len()).await;
        }
        Ok(rooms)
    }

    /// The public rooms of every process, newest first (at most [`LIST_LIMIT`]).
    pub async fn list(&self) -> Result<Vec<ListedRoom>, DirectoryError> {
        let index = self.key(&["rooms"]);
        let mut pipe = redis::pipe();
        pipe.cmd("ZREVRANGE").arg(&index).arg(0).arg(LIST_LIMIT - 1);
        let (ids,): (Vec<String>,) = self.run(&pipe, 1).await?;
        let open = self.key(&["open"]);
        self.rooms_by_id(ids, &[index, open]).await
    }

    /// The fullest public rooms with a free seat, across every process (on `map` when given).
    pub async fn candidates(&self, map: Option<&str>) -> Result<Vec<ListedRoom>, DirectoryError> {
        let index = match map {
            Some(map) => self.key(&["open", map]),
            None => self.key(&["open"]),
        };
        let mut pipe = redis::pipe();
        pipe.cmd("ZREVRANGE").arg(&index).arg(0).arg(CANDIDATES - 1);
        let (ids,): (Vec<String>,) = self.run(&pipe, 1).await?;
        let mut rooms = self.rooms_by_id(ids, &[index, self.key(&["open"]), self.key(&["rooms"])]).await?;
        rooms.retain(|room| !room.private && room.players < room.max_players);
        // Fullest first; the older room on a tie, as the lobby does.
        rooms.sort_by_key(|room| (std::cmp::Reverse(room.players), room.created_ms));
        Ok(rooms)
    }

    /// One room, wherever it is.
    pub async fn room(&self, id: &str) -> Result<Option<ListedRoom>, DirectoryError> {
        Ok(self.rooms_by_id(vec![id.to_string()], &[]).await?.pop())
    }

    /// The least-loaded process that takes new players (this one included).
    pub async fn least_loaded(&self) -> Result<Option<ProcInfo>, DirectoryError> {
        let index = self.key(&["procs"]);
        let mut pipe = redis::pipe();
        pipe.cmd("ZRANGE").arg(&index).arg(0).arg(CANDIDATES - 1);
        let (ids,): (Vec<String>,) = self.run(&pipe, 1).await?;
        if ids.is_empty() {
            return Ok(None);
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.key(&["proc", id]));
        }
        let hashes: Vec<HashMap<String, String>> = self.run(&pipe, ids.len()).await?;
        let mut stale = Vec::new();
        let mut best = None;
        for (id, hash) in ids.into_iter().zip(hashes) {
            let (Some(url), Some(players)) = (hash.get("url"), hash.get("players").and_then(|p| p.parse().ok())) else {
                stale.push(id);
                continue;
            };
            if hash.get("draining").map(String::as_str) == Some("1") || best.is_some() {
                continue;
            }
            best = Some(ProcInfo { id, url: url.clone(), players });
        }
        if !stale.is_empty() {
            let mut pipe = redis::pipe();
            pipe.cmd("ZREM").arg(&index).arg(&stale).ignore();
            let _: Result<(), _> = self.run(&pipe, 1).await;
        }
        Ok(best)
    }

    /// Reserves a seat in `room` for a player sent there (or seated here: every quick-play seat is taken through
    /// the directory, so no two processes hand out the same one); `Some((token, claims))` when the room had one free
    /// (players and live reservations below its size), `None` when it is full or gone.
    pub async fn reserve(&self, room: &ListedRoom, name: &str) -> Result<Option<(String, SeatClaims)>, DirectoryError> {
        let claims = self.seats.claims_for(&room.proc, &room.id, name, None, self.config.seat_ttl);
        let now = now_ms();
        let expires = now + self.config.seat_ttl.as_millis() as u64;
        let script = redis::Script::new(RESERVE);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key(&["room", &room.id]))
            .key(self.key(&["resv", &room.id]))
            .arg(now)
            .arg(expires)
            .arg(&claims.jti)
            .arg(self.config.seat_ttl.as_millis() as u64 * 2);
        let mut con = self.con.clone();
        let reserved: i64 = self.call(1, invocation.invoke_async(&mut con)).await?;
        match reserved {
            1 => Ok(Some((self.seats.sign(&claims)?, claims))),
            _ => Ok(None),
        }
    }

    /// A seat token for a room to be created on `proc` (every room was full): no reservation, the new room has
    /// space.
    pub fn create_seat(&self, proc: &ProcInfo, name: &str, map: Option<&str>) -> Result<String, DirectoryError> {
        let claims = self.seats.claims_for(&proc.id, "", name, map, self.config.seat_ttl);
        Ok(self.seats.sign(&claims)?)
    }

    /// Spends a seat token's id (single use across every process) and frees its reservation; false if it was
    /// spent already.
    pub async fn redeem(&self, claims: &SeatClaims) -> Result<bool, DirectoryError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.key(&["used", &claims.jti]))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(self.config.seat_ttl.as_millis() as u64 * 2);
        if !claims.room.is_empty() {
            // The reservation becomes a player: counted at once, so no other process hands out the seat again
            // before this process's next heartbeat publishes the room's real count.
            pipe.cmd("ZREM").arg(self.key(&["resv", &claims.room])).arg(&claims.jti).ignore();
            pipe.cmd("HINCRBY").arg(self.key(&["room", &claims.room])).arg("players").arg(1).ignore();
        }
        let (set,): (Option<String>,) = self.run(&pipe, 3).await?;
        Ok(set.is_some())
    }

    /// Takes the directory-wide right to open a new room for quick play, for up to `hold`: while every room is full,
    /// the players arriving together would otherwise each open one (a room per player instead of one for all).
    /// False when another process (or another join here) holds it.
    pub async fn claim_creation(&self, hold: Duration) -> Result<bool, DirectoryError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.key(&["creating"]))
            .arg(&self.proc_id)
            .arg("NX")
            .arg("PX")
            .arg(hold.as_millis() as u64);
        let (set,): (Option<String>,) = self.run(&pipe, 1).await?;
        Ok(set.is_some())
    }

    /// Gives the creation right back once the new room is published.
    pub async fn end_creation(&self) -> Result<(), DirectoryError> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(self.key(&["creating"])).ignore();
        self.run(&pipe, 1).await
    }

    /// Gives a reservation back unused (the room refused the player after all).
    pub async fn release(&self, claims: &SeatClaims) -> Result<(), DirectoryError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM").arg(self.key(&["resv", &claims.room])).arg(&claims.jti).ignore();
        self.run(&pipe, 1).await
    }

    /// Stops taking new players from the directory (SIGTERM): unlisted from the process index and from the rooms
    /// quick play picks; the rooms themselves stay listed while they run.
    pub async fn start_draining(&self, lobby: &Lobby) -> Result<(), DirectoryError> {
        self.draining.store(true, Ordering::Relaxed);
        self.heartbeat(lobby).await
    }

    /// Takes this process and its rooms out of the directory (a clean exit).
    pub async fn leave(&self) -> Result<(), DirectoryError> {
        let ids: Vec<String> = self.published.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(self.key(&["proc", &self.proc_id])).ignore();
        pipe.cmd("ZREM").arg(self.key(&["procs"])).arg(&self.proc_id).ignore();
        for id in &ids {
            pipe.cmd("DEL").arg(self.key(&["room", id])).ignore();
            pipe.cmd("ZREM").arg(self.key(&["rooms"])).arg(id).ignore();
            pipe.cmd("ZREM").arg(self.key(&["open"])).arg(id).ignore();
        }
        self.run(&pipe, 2 + 3 * ids.len()).await
    }
}

/// A room hash read back; `None` when it has expired (an empty hash) or is not one of ours.
fn listed(id: String, hash: &HashMap<String, String>) -> Option<ListedRoom> {
    let number = |field: &str| hash.get(field).and_then(|value| value.parse::<u64>().ok());
    Some(ListedRoom {
        id,
        proc: hash.get("proc")?.clone(),
        url: hash.get("url")?.clone(),
        name: hash.get("name").cloned().unwrap_or_default(),
        map: hash.get("map").cloned().unwrap_or_default(),
        players: number("players")? as usize,
        max_players: number("max")? as usize,
        spectators: number("spectators").unwrap_or(0) as usize,
        private: number("private") == Some(1),
        created_ms: number("created").unwrap_or(0),
        max_spectators: number("max_spectators").unwrap_or(0) as usize,
        tick_rate: number("tick_rate").unwrap_or(0) as u32,
        view_radius: hash.get("view_radius").and_then(|value| value.parse().ok()).unwrap_or(0.0),
    })
}

/// Publishes every third of a TTL until `shutdown`, then leaves the directory. A failed heartbeat is logged once
/// per outage: matches go on, and the next one that gets through restores every entry.
pub async fn run_heartbeat(directory: Arc<Directory>, lobby: Arc<Lobby>, mut shutdown: watch::Receiver<bool>) {
    let every = directory.config.ttl / 3;
    let mut away = false;
    loop {
        match directory.heartbeat(&lobby).await {
            Ok(()) if away => {
                info!("the room directory is reachable again");
                away = false;
            }
            Ok(()) => {}
            Err(error) if !away => {
                warn!(%error, "the room directory is unreachable; matches go on, joins use this process's rooms");
                away = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    if let Err(error) = directory.leave().await {
        warn!(%error, "could not leave the room directory; its entries expire by themselves");
    }
}
