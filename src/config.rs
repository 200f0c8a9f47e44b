//! Command-line flags and the limits and rates they set. Every limit the server enforces lives here, with its default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::sim::{Map, MapError};

/// Authoritative game server for the skirmish arena shooter.
#[derive(Debug, Clone, Parser)]
#[command(name = "skirmish", version, about)]
pub struct Args {
    /// Address to listen on (HTTP for the client and /healthz, WebSocket on /ws).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Simulation ticks per second; one snapshot is sent to each client per tick.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub tick_rate: u32,

    /// Map file (JSON, see README); the bundled arena when not given.
    #[arg(long)]
    pub map: Option<PathBuf>,

    /// Most players in the room at once; later joins are refused with close code 1013.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub max_players: u32,

    /// Largest WebSocket message a client may send, in bytes (real messages are under 40); larger closes with 1009.
    #[arg(long, default_value_t = 128)]
    pub max_message_bytes: usize,

    /// Frames queued per client before new ones are dropped (the client then converges on a later delta).
    #[arg(long, default_value_t = 16)]
    pub outbox_frames: usize,

    /// Kernel send buffer per connection, in bytes. Small enough that a client that cannot keep up fills its
    /// outbox (where frames are dropped and it converges on a later delta) instead of a deep socket backlog of
    /// stale frames it would have to decode first.
    #[arg(long, default_value_t = 128 * 1024)]
    pub send_buffer_bytes: usize,

    /// Seconds a new WebSocket has to send its hello.
    #[arg(long, default_value_t = 10)]
    pub hello_timeout_secs: u64,

    /// Seed of the simulation's random choices (spawn points).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Ticks of snapshot history kept for delta encoding (PROTOCOL.md promises 64): two seconds at 30 Hz, so a client
/// that falls briefly behind still gets deltas instead of much larger full snapshots.
pub const HISTORY_TICKS: usize = 64;

/// Everything the server needs to run, resolved from `Args` (the map loaded and validated).
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub tick_rate: u32,
    pub map: Map,
    pub max_players: usize,
    pub max_message_bytes: usize,
    pub outbox_frames: usize,
    pub send_buffer_bytes: usize,
    pub hello_timeout: std::time::Duration,
    pub seed: u64,
    /// Test hook: keep the server's own snapshots of the last this-many ticks where tests can read them.
    pub record_snapshots: usize,
}

impl Config {
    pub fn from_args(args: &Args) -> Result<Config, MapError> {
        let map = match &args.map {
            Some(path) => Map::load(path)?,
            None => Map::bundled_arena(),
        };
        Ok(Config {
            addr: args.addr,
            tick_rate: args.tick_rate,
            map,
            max_players: args.max_players as usize,
            max_message_bytes: args.max_message_bytes,
            outbox_frames: args.outbox_frames.max(1),
            send_buffer_bytes: args.send_buffer_bytes,
            hello_timeout: std::time::Duration::from_secs(args.hello_timeout_secs),
            seed: args.seed,
            record_snapshots: 0,
        })
    }

    /// The defaults, listening on an ephemeral loopback port: what tests and benchmarks start from.
    pub fn for_tests() -> Config {
        let args = Args::parse_from(["skirmish", "--addr", "127.0.0.1:0"]);
        Config::from_args(&args).expect("the bundled map is valid")
    }
}
