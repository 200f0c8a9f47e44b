//! Match recordings and frame logs: what a room did to its world, tick by tick, so that a match can be re-run
//! exactly (`skirmish replay`), and what went over one connection's wire (`--log-frames`), both readable as JSON
//! lines (`skirmish inspect`). The file format is in `docs/RECORDING.md`.
//!
//! - `format`: the files' types, their MessagePack encoding and decoder, the state checksum.
//! - `journal`: the room's side — every world call of the room goes through it; it queues a frame per tick.
//! - `writer`: the one background thread that owns the open files; producers never wait for it.
//! - `frames`: a connection's frame log.
//! - `replay` and `inspect`: the two subcommands; `playback`: a recording served as a room (`--replay FILE`).
//!
//! The `Recorder` is what the lobby holds: the settings, the writer, and the way to open a room's journal or a
//! connection's frame log.

pub mod format;
pub mod frames;
pub mod inspect;
pub mod journal;
pub mod playback;
pub mod replay;
pub mod writer;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tracing::error;

use crate::config::RoomConfig;
use crate::protocol::MapInfo;
use crate::sim::World;

pub use format::{EndReason, Header, RoomRecord, RulesRecord, WireInput};
pub use frames::FrameLog;
pub use journal::Journal;
pub use playback::{Playback, Recording};
pub use replay::{replay, ReplayError, ReplayReport};
pub use writer::{Archive, ArchiveStats};

/// Who writes the files.
pub const SERVER: &str = concat!("skirmish ", env!("CARGO_PKG_VERSION"));

/// Frames queued between a room and the writer: eight seconds at 30 Hz before a stalled disk truncates a recording.
const ROOM_QUEUE: usize = 256;

/// What to record (`--record`, `--log-frames` and their settings).
#[derive(Debug, Clone, Default)]
pub struct RecordingConfig {
    /// Each room writes its recording here.
    pub dir: Option<PathBuf>,
    /// The bound of each file, recordings and frame logs.
    pub max_bytes: u64,
    /// A checksum every this many ticks.
    pub checksum_every: u32,
    /// The full state at every this-many-th checksum.
    pub state_every: u32,
    /// Connections from these addresses log their frames...
    pub log_frames: Vec<IpAddr>,
    /// ...into this directory.
    pub frames_dir: Option<PathBuf>,
}

impl RecordingConfig {
    /// Whether anything is recorded at all (a writer thread is needed).
    pub fn is_active(&self) -> bool {
        self.dir.is_some() || (self.frames_dir.is_some() && !self.log_frames.is_empty())
    }
}

/// The lobby's recorder: see the module docs.
pub struct Recorder {
    config: RecordingConfig,
    archive: Arc<Archive>,
}

impl Recorder {
    /// Starts the writer when `config` records anything; `None` otherwise (or if the thread cannot start, which is
    /// logged: the server then runs without recording rather than not at all).
    pub fn start(config: &RecordingConfig) -> Option<Arc<Recorder>> {
        if !config.is_active() {
            return None;
        }
        match Archive::start() {
            Ok(archive) => Some(Arc::new(Recorder { config: config.clone(), archive })),
            Err(e) => {
                error!(error = %e, "cannot start the recording thread; recording is off");
                None
            }
        }
    }

    pub fn config(&self) -> &RecordingConfig {
        &self.config
    }

    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    pub fn stats(&self) -> &ArchiveStats {
        self.archive.stats()
    }

    /// The journal of a new room (off unless rooms are recorded): its file `DIR/<room id>-<start unix time>.skrec`
    /// opens with a header of the room's settings, taken from `world` as the room built it.
    pub fn journal(&self, room: &RoomConfig, world: &World, started: SystemTime) -> Journal {
        let Some(dir) = &self.config.dir else { return Journal::off() };
        let header = header(room, world, started, self.config.checksum_every, self.config.state_every);
        let path = dir.join(format!("{}-{}.skrec", room.id, unix_millis(started) / 1000));
        match self.archive.open(path, self.config.max_bytes, ROOM_QUEUE, format::encode_header(&header)) {
            Some(sink) => Journal::new(sink, header.checksum_every, header.state_every),
            None => Journal::off(),
        }
    }

    /// The frame log of a new connection from `peer`, if that peer is watched.
    pub fn frame_log(&self, peer: SocketAddr) -> Option<FrameLog> {
        FrameLog::open(self, peer)
    }

    /// Finishes every file (see `Archive::close`).
    pub async fn close(&self) {
        self.archive.close().await;
    }
}

/// A recording's header for a room built from `room` whose world is `world`.
pub fn header(room: &RoomConfig, world: &World, started: SystemTime, checksum_every: u32, state_every: u32) -> Header {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Header {
        format: format::RECORDING_FORMAT.into(),
        version: format::FORMAT_VERSION,
        server: SERVER.into(),
        room: RoomRecord {
            id: room.id.clone(),
            name: room.name.clone(),
            map_label: room.map_label.clone(),
            max_players: clamp(room.max_players),
            max_spectators: clamp(room.max_spectators),
            view_radius: room.view_radius,
            private: room.private,
            resume_grace_ms: room.resume_grace.as_millis().min(u128::from(u32::MAX)) as u32,
        },
        started_unix_ms: unix_millis(started),
        tick_rate: room.tick_rate,
        seed: room.seed,
        map: MapInfo::from(world.map()),
        rules: RulesRecord::from(world.rules()),
        checksum_every: checksum_every.max(1),
        state_every: state_every.max(1),
    }
}

/// Milliseconds since the Unix epoch (0 for a clock before it).
pub fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
