//! The lobby: the registry of this process's rooms and the matchmaking over it (create, find by id, list, quick
//! play, the busiest room to spectate, close), and the pool of threads the rooms tick on.
//!
//! A room is a task on the room pool (a multi-threaded tokio runtime with about one thread per core), so 200 rooms
//! need no 200 threads; the pool's work stealing lets the other threads run every other room's tick while one room
//! overruns. The registry only holds handles: the room's command queue, its published counters and its settings.
//! When a room's task ends (empty for its grace period, shutdown, or a panic) its entry goes, and its final counts
//! join the retired totals that keep `/metrics`'s process-wide counters from going down.

pub mod options;
mod quota;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::config::{RoomConfig, ServerConfig};
use crate::protocol::RoomOptions;
use crate::recording::{Playback, Recorder, Recording};
use crate::room::{self, Room, RoomCommand, RoomStats, SnapshotTap};
use crate::telemetry::census::Retired;

pub use options::BadOptions;

/// Commands queued per room between two of its ticks, from all its connections together.
const ROOM_QUEUE: usize = 8192;

/// Why the lobby could not give a room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LobbyError {
    #[error("no room with id {0}")]
    NotFound(String),
    #[error("no room to spectate")]
    NothingToSpectate,
    #[error("the server is at its room limit ({0} rooms)")]
    RoomLimit(usize),
    #[error(transparent)]
    BadOptions(#[from] BadOptions),
    #[error("this address created {limit} rooms in the last minute; try again in {retry_after_secs} s")]
    CreationQuota { limit: u32, retry_after_secs: u64 },
    #[error("server shutting down")]
    ShuttingDown,
}

/// One room as the lobby knows it.
#[derive(Debug)]
pub struct RoomEntry {
    pub id: String,
    pub name: String,
    pub map: String,
    pub max_players: usize,
    pub max_spectators: usize,
    pub tick_rate: u32,
    pub view_radius: f32,
    pub private: bool,
    pub created_at: SystemTime,
    /// Order of creation, for stable tie-breaks (the older room wins).
    serial: u64,
    pub commands: mpsc::Sender<RoomCommand>,
    pub stats: Arc<RoomStats>,
    /// Present when `RoomConfig::record_snapshots` > 0 (tests).
    pub snapshots: Option<SnapshotTap>,
    /// Seats other processes have reserved for players they are sending here (`--redis`; refreshed by the
    /// directory's heartbeat): quick play counts them as taken.
    reserved: std::sync::atomic::AtomicUsize,
}

impl RoomEntry {
    pub fn players(&self) -> usize {
        self.stats.players.load(Ordering::Relaxed) as usize
    }

    pub fn spectators(&self) -> usize {
        self.stats.spectators.load(Ordering::Relaxed) as usize
    }

    /// Seats reserved for players other processes are sending here.
    pub fn reserved(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    pub fn set_reserved(&self, seats: usize) {
        self.reserved.store(seats, Ordering::Relaxed);
    }

    /// The room as `GET /rooms` lists it.
    pub fn summary(&self) -> RoomSummary {
        RoomSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            map: self.map.clone(),
            players: self.players(),
            spectators: self.spectators(),
            max_players: self.max_players,
            max_spectators: self.max_spectators,
            tick_rate: self.tick_rate,
            view_radius: self.view_radius,
            private: self.private,
            created_at: rfc3339(self.created_at),
        }
    }
}

/// A room in the lobby's JSON (`GET /rooms`, `POST /rooms`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomSummary {
    pub id: String,
    pub name: String,
    pub map: String,
    pub players: usize,
    pub spectators: usize,
    pub max_players: usize,
    pub max_spectators: usize,
    pub tick_rate: u32,
    pub view_radius: f32,
    pub private: bool,
    pub created_at: String,
}

/// The registry of rooms. Cheap to share (`Arc`); every method is safe to call from any task.
pub struct Lobby {
    rooms: Mutex<HashMap<String, Arc<RoomEntry>>>,
    /// What a room gets for the settings its creator leaves out.
    defaults: RoomConfig,
    max_rooms: usize,
    creations: quota::CreationQuota,
    pool: tokio::runtime::Handle,
    shutdown: watch::Receiver<bool>,
    /// Writes each room's recording and the watched connections' frame logs (`--record`, `--log-frames`).
    recorder: Option<Arc<Recorder>>,
    serial: AtomicU64,
    /// Room tasks still running (their watchers), for shutdown to wait on.
    running: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The first panic of a room task, re-raised by `join_all`.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    /// Rooms whose task panicked.
    pub room_panics: AtomicU64,
    /// What the closed rooms counted, so that process totals never go down; changed only with `rooms` locked.
    retired: Mutex<Retired>,
    me: Weak<Lobby>,
    /// The room directory shared with other processes (`--redis`), set once at start.
    directory: std::sync::OnceLock<Arc<crate::directory::Directory>>,
}

impl Lobby {
    /// A lobby whose rooms run on `pool` and stop when `shutdown` turns true.
    pub fn new(config: &ServerConfig, pool: tokio::runtime::Handle, shutdown: watch::Receiver<bool>) -> Arc<Lobby> {
        let lobby = Arc::new_cyclic(|me| Lobby {
            rooms: Mutex::new(HashMap::new()),
            defaults: config.room.clone(),
            max_rooms: config.max_rooms,
            creations: quota::CreationQuota::new(config.room_creations_per_minute),
            pool,
            shutdown,
            recorder: Recorder::start(&config.recording),
            serial: AtomicU64::new(0),
            running: Mutex::new(Vec::new()),
            panic: Mutex::new(None),
            room_panics: AtomicU64::new(0),
            retired: Mutex::new(Retired::default()),
            me: me.clone(),
            directory: std::sync::OnceLock::new(),
        });
        if let Some(recording) = &config.replay {
            if let Err(e) = lobby.open_playback(recording.clone()) {
                error!(error = %e, "cannot open the replay room");
            }
        }
        lobby
    }

    /// Opens a room that plays `recording` back for spectators (`--replay`): the recording's map, tick rate and seed,
    /// no player seats, open until shutdown.
    pub fn open_playback(&self, recording: Arc<Recording>) -> Result<Arc<RoomEntry>, LobbyError> {
        let header = &recording.header;
        let mut config = self.defaults.clone();
        let name = format!("replay {}", header.room.name);
        config.name = name.chars().take(crate::config::MAX_ROOM_NAME_CHARS).collect::<String>().trim().to_string();
        config.map = recording.map.clone();
        config.map_label = header.room.map_label.clone();
        config.tick_rate = header.tick_rate;
        config.seed = header.seed;
        config.max_players = 0;
        config.view_radius = 0.0;
        config.private = false;
        config.resume_grace = std::time::Duration::ZERO;
        // Nobody watching is no reason to close it: someone may open the page later.
        config.empty_grace = std::time::Duration::from_secs(30 * 86_400);
        self.open_with(config, Some(Playback::new(recording)))
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RoomEntry>>> {
        self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a room from `options` (the defaults for what they leave out) and starts its tick loop.
    pub fn create(&self, options: &RoomOptions) -> Result<Arc<RoomEntry>, LobbyError> {
        let config = options::resolve(options, &self.defaults)?;
        self.open(config)
    }

    /// `create`, on behalf of a client at `from`, which may create `--room-creations-per-minute` rooms a minute.
    /// Options and the room limit are checked first, so a refused request costs no quota.
    pub fn create_for(&self, options: &RoomOptions, from: IpAddr) -> Result<Arc<RoomEntry>, LobbyError> {
        let config = options::resolve(options, &self.defaults)?;
        if self.len() >= self.max_rooms {
            return Err(LobbyError::RoomLimit(self.max_rooms));
        }
        self.creations.take(from, std::time::Instant::now())?;
        self.open(config)
    }

    /// Creates a room from settings already resolved (tests use it for the hooks options cannot set); its id is
    /// chosen here.
    pub fn create_from(&self, config: RoomConfig) -> Result<Arc<RoomEntry>, LobbyError> {
        self.open(config)
    }

    fn open(&self, config: RoomConfig) -> Result<Arc<RoomEntry>, LobbyError> {
        self.open_with(config, None)
    }

    /// Opens a room, playing `playback` back if given (a played-back room is not recorded again).
    fn open_with(&self, mut config: RoomConfig, playback: Option<Playback>) -> Result<Arc<RoomEntry>, LobbyError> {
        if *self.shutdown.borrow() {
            return Err(LobbyError::ShuttingDown);
        }
        let mut rooms = self.rooms();
        if rooms.len() >= self.max_rooms {
            return Err(LobbyError::RoomLimit(self.max_rooms));
        }
        // Numbered by rooms actually opened, so refused requests leave no gaps.
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        if config.name.is_empty() {
            config.name = format!("{} {serial}", config.map_label);
        }
        config.id = loop {
            let id = room_id();
            if !rooms.contains_key(&id) {
                break id;
            }
        };
        let stats = Arc::new(RoomStats::default());
        let snapshots: Option<SnapshotTap> = (config.record_snapshots > 0).then(Default::default);
        let (commands, inbox) = mpsc::channel(ROOM_QUEUE);
        let entry = Arc::new(RoomEntry {
            id: config.id.clone(),
            name: config.name.clone(),
            map: config.map_label.clone(),
            max_players: config.max_players,
            max_spectators: config.max_spectators,
            tick_rate: config.tick_rate,
            view_radius: config.view_radius,
            private: config.private,
            created_at: SystemTime::now(),
            serial,
            commands,
            stats: stats.clone(),
            snapshots: snapshots.clone(),
            reserved: Default::default(),
        });
        rooms.insert(entry.id.clone(), entry.clone());
        drop(rooms);

        let mut room = Room::new(&config, stats, snapshots);
        match (playback, &self.recorder) {
            (Some(playback), _) => room.play_back(playback),
            (None, Some(recorder)) => room.record(recorder.journal(&config, room.world(), entry.created_at)),
            (None, None) => {}
        }
        // Every line the room logs carries its id and name; not a child of the connection that happened to create it.
        let span = tracing::info_span!(parent: None, "room", room = %entry.id, name = %entry.name);
        let task =
            self.pool.spawn(tracing::Instrument::instrument(room::run(room, inbox, self.shutdown.clone()), span));
        let (lobby, id) = (self.me.clone(), entry.id.clone());
        // The watcher removes the room once its task ends, however it ends.
        let watcher = self.pool.spawn(async move {
            let outcome = task.await;
            let Some(lobby) = lobby.upgrade() else { return };
            // The room's final counts move to the retired totals while `rooms` is locked, so that a census sees
            // the room either open or retired, never both or neither.
            let mut rooms = lobby.rooms();
            if let Some(entry) = rooms.remove(&id) {
                lobby.retired.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).absorb(&entry.stats);
            }
            drop(rooms);
            if let Err(failure) = outcome {
                if failure.is_panic() {
                    lobby.room_panics.fetch_add(1, Ordering::Relaxed);
                    error!(room = %id, "room task panicked; its clients are disconnected");
                    let mut first = lobby.panic.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    first.get_or_insert(failure.into_panic());
                }
            }
        });
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        running.retain(|handle| !handle.is_finished());
        running.push(watcher);
        info!(room = %entry.id, name = %entry.name, map = %entry.map, private = entry.private, "room created");
        Ok(entry)
    }

    /// The room with this id (private ones too).
    pub fn find(&self, id: &str) -> Result<Arc<RoomEntry>, LobbyError> {
        self.rooms().get(id).cloned().ok_or_else(|| LobbyError::NotFound(id.to_string()))
    }

    /// Every room, private ones included, oldest first.
    pub fn all(&self) -> Vec<Arc<RoomEntry>> {
        let mut rooms: Vec<_> = self.rooms().values().cloned().collect();
        rooms.sort_by_key(|room| room.serial);
        rooms
    }

    /// Every open room (oldest first) and what the closed ones counted, read at the same moment.
    pub fn rooms_and_retired(&self) -> (Vec<Arc<RoomEntry>>, Retired) {
        let rooms = self.rooms();
        let retired = *self.retired.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut open: Vec<_> = rooms.values().cloned().collect();
        drop(rooms);
        open.sort_by_key(|room| room.serial);
        (open, retired)
    }

    /// Rooms opened since the process started.
    pub fn rooms_opened(&self) -> u64 {
        self.serial.load(Ordering::Relaxed)
    }

    /// The public rooms, most players first (ties: the oldest first).
    pub fn list(&self) -> Vec<RoomSummary> {
        let mut rooms: Vec<_> = self.all().into_iter().filter(|room| !room.private).collect();
        rooms.sort_by_key(|room| (std::cmp::Reverse(room.players()), room.serial));
        rooms.iter().map(|room| room.summary()).collect()
    }

    /// Quick play: the fullest public room with a free player slot on `map` (any map when `None`), else a new
    /// public room with the defaults (on that map). `skip` names rooms that just refused this player.
    pub fn quick_play(&self, map: Option<&str>, skip: &[String]) -> Result<Arc<RoomEntry>, LobbyError> {
        let map = map.map(options::canonical_map);
        let map = map.as_deref();
        let best = self
            .all()
            .into_iter()
            .filter(|room| {
                !room.private && room.players() + room.reserved() < room.max_players && !skip.contains(&room.id)
            })
            .filter(|room| map.is_none_or(|map| room.map == map))
            .max_by_key(|room| (room.players(), std::cmp::Reverse(room.serial)));
        match best {
            Some(room) => Ok(room),
            None => self.create(&RoomOptions { map: map.map(str::to_string), ..RoomOptions::default() }),
        }
    }

    /// The public room with the most players (ties: the oldest) that has a spectator slot, for quick spectating.
    pub fn busiest(&self) -> Result<Arc<RoomEntry>, LobbyError> {
        self.all()
            .into_iter()
            .filter(|room| !room.private && room.spectators() < room.max_spectators)
            .max_by_key(|room| (room.players(), std::cmp::Reverse(room.serial)))
            .ok_or(LobbyError::NothingToSpectate)
    }

    /// Joins the shared room directory (once, at start): the census then reports on it.
    pub fn set_directory(&self, directory: Arc<crate::directory::Directory>) {
        let _ = self.directory.set(directory);
    }

    pub fn directory(&self) -> Option<&Arc<crate::directory::Directory>> {
        self.directory.get()
    }

    /// Rooms open now.
    pub fn len(&self) -> usize {
        self.rooms().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max_rooms(&self) -> usize {
        self.max_rooms
    }

    /// The settings a room gets for whatever its creator leaves out.
    pub fn defaults(&self) -> &RoomConfig {
        &self.defaults
    }

    /// The recorder, when anything is recorded.
    pub fn recorder(&self) -> Option<&Arc<Recorder>> {
        self.recorder.as_ref()
    }

    /// Waits for every room task to end (after shutdown was signalled) and for their recordings to be written, then
    /// re-raises the first room panic.
    ///
    /// # Panics
    /// With a room task's own panic, if one panicked: a crashed room must fail whoever stops the server.
    pub async fn join_all(&self) {
        let running = std::mem::take(&mut *self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for watcher in running {
            let _ = watcher.await;
        }
        if let Some(recorder) = &self.recorder {
            recorder.close().await;
        }
        if let Some(panic) = self.panic.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            std::panic::resume_unwind(panic);
        }
    }
}

/// A new room id: 12 characters of a-z and 2-7, 60 bits from the OS's random source, so that a private room's id
/// cannot be guessed.
fn room_id() -> String {
    random_id()
}

/// 12 characters of a-z and 2-7 from the OS's random source (room ids, process ids, seat token ids).
pub fn random_id() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 8];
    // Without the OS's random source nothing here is safe to hand out; that is not a state to run in.
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let bits = u64::from_le_bytes(bytes);
    (0..12).map(|i| ALPHABET[((bits >> (5 * i)) & 31) as usize] as char).collect()
}

/// `time` as an RFC 3339 UTC timestamp to the second, e.g. `2026-12-01T10:35:20Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let seconds = time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |secs| rfc3339(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_121_320), "2026-12-01T10:35:20Z");
    }

    #[test]
    fn room_ids_are_twelve_base32_characters_and_differ() {
        let ids: Vec<String> = (0..100).map(|_| room_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 12);
            assert!(id.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)), "{id}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
