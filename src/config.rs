//! Command-line flags and the settings they resolve to: `ServerConfig` for the process (address, edge limits, caps on
//! rooms and connections, the lobby's defaults) and `RoomConfig` for one room (map, tick rate, players, view radius,
//! seed), from which a room is created. Every limit the server enforces lives here, with its default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use std::sync::Arc;

use crate::auth::{AuthSetupError, Authenticator};
use crate::recording::{Recording, RecordingConfig};
use crate::sim::{Map, MapError, MAX_MAP_SIZE, MIN_MAP_SIZE};
use crate::telemetry::access::{BadMetricsToken, MetricsToken};

/// Authoritative game server for the skirmish arena shooter.
#[derive(Debug, Clone, Parser)]
#[command(name = "skirmish", version, about, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Without a subcommand the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on (HTTP for the client and /healthz, WebSocket on /ws).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Simulation ticks per second; one snapshot is sent to each client per tick.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub tick_rate: u32,

    /// Map file (JSON, see README); the bundled arena when neither this nor --map-size is given.
    #[arg(long, conflicts_with = "map_size")]
    pub map: Option<PathBuf>,

    /// Play on a generated arena of WIDTHxHEIGHT world units (walls and spawn points placed from a fixed seed;
    /// the same size always gives the same map) instead of the bundled 2400x1600 one. The bundled arena suits
    /// about 50 players; growing both sides by sqrt(players / 50) keeps its density for bigger rooms.
    #[arg(long, value_name = "WIDTHxHEIGHT", value_parser = parse_map_size)]
    pub map_size: Option<(i32, i32)>,

    /// Players per room: the default of a new room and the most a room may be created with; a join beyond a room's
    /// own limit is refused with close code 4002.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub max_players: u32,

    /// Spectators per room (they do not take player slots); a spectator beyond it is refused with 4003.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=65535))]
    pub max_spectators: u32,

    /// Rooms this process hosts at once; creating one more is refused (4004, or HTTP 503).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_rooms: u32,

    /// Rooms one address may create per minute (`POST /rooms` and hellos that create); more are refused (4006, or
    /// HTTP 429) until the minute is over. Quick play opening a room for lack of space does not count.
    #[arg(long, default_value_t = 20)]
    pub room_creations_per_minute: u32,

    /// Seconds a room with no players and no spectators stays open before it closes.
    #[arg(long, default_value_t = 30.0)]
    pub empty_room_secs: f64,

    /// Threads that run the rooms' ticks (a room is a task on this pool, not a thread of its own); default: one
    /// per core.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub room_threads: Option<u32>,

    /// Seconds a player's seat is held after its socket drops without leaving; a hello with the seat's resume token
    /// within that time gets the same player back. 0 turns resuming off.
    #[arg(long, default_value_t = 20.0)]
    pub resume_grace_secs: f64,

    /// Lag compensation: the furthest back, in milliseconds, a shot is resolved where its shooter saw the others
    /// (its acknowledged tick minus the view delay its input reports). A shot seen longer ago than this is resolved
    /// in the present. 0 turns lag compensation off.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub max_rewind_ms: u32,

    #[command(flatten)]
    pub link: crate::conditioner::LinkArgs,

    /// Join a room directory shared with other server processes through this Redis server (redis://host:port/db):
    /// rooms of every process are listed and quick-played across them, and players are sent to the process that
    /// holds their room. Without it the server runs alone on its own rooms.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// The prefix of every directory key in Redis (several clusters can share one Redis).
    #[arg(long, default_value = "skirmish", requires = "redis")]
    pub redis_prefix: String,

    /// The WebSocket URL other processes send players to (ws://host:port/ws); by default the listen address's, which
    /// only works when that is an address players reach.
    #[arg(long, value_name = "URL", requires = "redis")]
    pub public_url: Option<String>,

    /// The secret (at least 32 bytes) every process of the directory signs and checks seat tokens with; also read
    /// from --cluster-secret-file or SKIRMISH_CLUSTER_SECRET. Required with --redis.
    #[arg(long, conflicts_with = "cluster_secret_file")]
    pub cluster_secret: Option<String>,

    /// A file holding the cluster secret.
    #[arg(long)]
    pub cluster_secret_file: Option<PathBuf>,

    /// Directory entries expire this long after this process's last heartbeat (sent three times as often): a
    /// process that dies leaves the directory within it.
    #[arg(long, default_value_t = 3.0, requires = "redis")]
    pub directory_ttl_secs: f64,

    /// How long a seat token (and the seat it reserves on another process) lives.
    #[arg(long, default_value_t = 10.0, requires = "redis")]
    pub seat_ttl_secs: f64,

    /// With --redis, SIGTERM drains: the process takes no new players and leaves the directory's quick play, its
    /// matches run until they empty or this many seconds pass, then it exits.
    #[arg(long, default_value_t = 60.0)]
    pub drain_secs: f64,

    /// Let the link conditioner (--link-*) run on an address beyond loopback. Without this it refuses to: it
    /// would slow real players down.
    #[arg(long)]
    pub link_allow_public: bool,

    /// Chat lines a client may send per second on average; a line beyond the bucket closes with 1008.
    #[arg(long, default_value_t = 1.0)]
    pub chat_per_second: f64,

    /// Chat lines a client may send at once (the chat token bucket's size).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub chat_burst: u32,

    /// Largest WebSocket message a client may send, in bytes (a chat line of 120 four-byte characters is 485, every
    /// other message is under 120); larger closes with 1009.
    #[arg(long, default_value_t = 512)]
    pub max_message_bytes: usize,

    /// Frames queued per client before new ones are dropped (the client then converges on a later delta).
    #[arg(long, default_value_t = 16)]
    pub outbox_frames: usize,

    /// Kernel send buffer per connection, in bytes. Small enough that a client that cannot keep up fills its
    /// outbox (where frames are dropped and it converges on a later delta) instead of a deep socket backlog of
    /// stale frames it would have to decode first.
    #[arg(long, default_value_t = 128 * 1024)]
    pub send_buffer_bytes: usize,

    /// Most open connections in total; further ones get HTTP 503.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,

    /// Most open connections from one IP address; further ones get HTTP 503. (Load tests from one machine need
    /// as many as they run bots.)
    #[arg(long, default_value_t = 1024)]
    pub max_connections_per_ip: usize,

    /// Seconds a connection has to send its HTTP request headers (slow-loris protection).
    #[arg(long, default_value_t = 5.0)]
    pub handshake_timeout_secs: f64,

    /// Seconds a new WebSocket has to send its hello.
    #[arg(long, default_value_t = 10.0)]
    pub hello_timeout_secs: f64,

    /// Seconds of silence from a client after which the server pings it.
    #[arg(long, default_value_t = 5.0)]
    pub ping_interval_secs: f64,

    /// Seconds of silence (no message, no pong) after which a client is closed and its slot freed; this also
    /// reaps half-open connections whose peer vanished without a FIN.
    #[arg(long, default_value_t = 15.0)]
    pub idle_timeout_secs: f64,

    /// Seconds a client's outbox may stay full (it is not reading) before it is closed with 1008.
    #[arg(long, default_value_t = 5.0)]
    pub slow_client_secs: f64,

    /// Messages per second a client may send on average (token bucket); excess messages are dropped and counted,
    /// and a client dropping more than this many in one second is closed with 1008 as a flood.
    #[arg(long, default_value_t = 90)]
    pub input_rate: u32,

    /// Burst size of the input token bucket.
    #[arg(long, default_value_t = 45)]
    pub input_burst: u32,

    /// Origins allowed to open the WebSocket (repeat the flag for several); any origin when none is given.
    #[arg(long = "allowed-origin")]
    pub allowed_origins: Vec<String>,

    /// Seconds shutdown waits for writers to flush their close frames.
    #[arg(long, default_value_t = 3.0)]
    pub shutdown_grace_secs: f64,

    /// Seconds a closed connection keeps reading (and discarding) what its peer still sends after the close frame,
    /// so that a client still writing receives the close instead of a TCP reset.
    #[arg(long, default_value_t = 1.0)]
    pub close_linger_secs: f64,

    /// Interest management: each client receives only the entities within this many world units of its player
    /// (0 = everyone sees everyone). Saves bandwidth and client work in big rooms; the scoreboard and minimap of
    /// the browser client then show only players in view.
    #[arg(long, default_value_t = 0.0)]
    pub view_radius: f32,

    /// Seed of the simulation's random choices (spawn points).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Turns authentication on: every hello (but a resume) must carry a join token, a JWT signed with HS256 with this
    /// secret (at least 16 bytes), and creating a room over HTTP needs one that allows it. Also read from the file
    /// given by --auth-secret-file, or from the environment variable SKIRMISH_AUTH_SECRET. Off when none is given.
    #[arg(long, conflicts_with = "auth_secret_file")]
    pub auth_secret: Option<String>,

    /// A file holding the join-token secret (a trailing newline is ignored); see --auth-secret.
    #[arg(long)]
    pub auth_secret_file: Option<PathBuf>,

    /// Protects /metrics, /dashboard and /dashboard/data: a request must carry `Authorization: Bearer TOKEN` or
    /// `?token=TOKEN` (else 401), and /healthz without it answers only {"status":"ok"}. At least 16 characters of
    /// letters, digits and - . _ ~. Also read from the environment variable SKIRMISH_METRICS_TOKEN. Off when none
    /// is given: then whoever reaches --addr reads them, so set it whenever that is more than loopback.
    #[arg(long, value_name = "TOKEN")]
    pub metrics_token: Option<String>,

    /// Log lines as human-readable text, or as one JSON object per line (with the connection's and room's span
    /// fields) for log pipelines. The filter is RUST_LOG, default info.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Record every room's match into this directory, one file per room (`<room id>-<start unix time>.skrec`), for
    /// `skirmish replay` and `skirmish inspect`. The directory is created if missing.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,

    /// Largest recording (or frame log) file, in bytes; past it the file ends with a truncation marker and the room
    /// plays on unrecorded. A 50-player room records about 550 KB a minute (the default is about two hours).
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(4096..))]
    pub record_max_bytes: u64,

    /// Ticks between two state checksums in a recording (what `skirmish replay` checks against).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub record_checksum_every: u32,

    /// Every this-many-th checksum also records every entity's fields, so that a replay that differs names the
    /// entity and the field (1: every checksum).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub record_state_every: u32,

    /// Log every WebSocket frame in and out of the connections from this address (repeat for several) to
    /// `frames-<peer>-<time>.log` in --log-frames-dir (default: the --record directory); `skirmish inspect` reads
    /// them. The logs hold join and resume tokens: they are created readable by their owner only.
    #[arg(long, value_name = "PEER_IP")]
    pub log_frames: Vec<std::net::IpAddr>,

    /// Where --log-frames writes (created if missing).
    #[arg(long, value_name = "DIR")]
    pub log_frames_dir: Option<PathBuf>,

    /// Also host a room that plays this recording back for spectators (no player seats): open
    /// /?room=ROOM_ID&spectate=1 (GET /rooms lists it as "replay ...") and control it from the chat box with /pause,
    /// /play, /speed N (0.25 to 8) and /status.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,

    /// Fault injection for the tests: every room panics after this tick.
    #[arg(long, hide = true)]
    pub test_panic_at_tick: Option<u32>,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What the binary does besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print a signed join token for a server started with --auth-secret (testing without a game backend).
    Token(crate::auth::TokenArgs),
    /// Re-run a recorded match (--record) on the simulation and check every recorded checksum; exit 0 when all
    /// match, 1 at the first difference (its tick, entity and field are printed), 2 for a file that is not a
    /// readable recording.
    Replay(FileArgs),
    /// Print a recording or a frame log (--log-frames) as JSON lines, one per frame.
    Inspect(FileArgs),
}

/// The file a subcommand reads.
#[derive(Debug, Clone, clap::Args)]
pub struct FileArgs {
    pub file: PathBuf,
}

/// The maps compiled into the binary, by the name a room asks for (`assets/maps/NAME.json`).
pub const BUNDLED_MAPS: [(&str, &str); 2] =
    [("arena", include_str!("../assets/maps/arena.json")), ("duel", include_str!("../assets/maps/duel.json"))];

/// Sides a generated map may have when a room asks for one (`WIDTHxHEIGHT`): big enough to play in, small enough
/// that anyone allowed to create a room cannot make the server build a huge one.
pub const ROOM_MAP_SIDES: std::ops::RangeInclusive<i32> = 320..=20_000;

/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 24;

/// Largest view radius a room may be created with, in world units.
pub const MAX_VIEW_RADIUS: f32 = 20_000.0;

/// Ticks of snapshot history kept for delta encoding (PROTOCOL.md promises 64): two seconds at 30 Hz, so a client
/// that falls briefly behind still gets deltas instead of much larger full snapshots.
pub const HISTORY_TICKS: usize = 64;

/// The limits of the network edge (see `Args` for what each means).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub outbox_frames: usize,
    pub send_buffer_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub handshake_timeout: Duration,
    pub hello_timeout: Duration,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub input_rate: u32,
    pub input_burst: u32,
    pub allowed_origins: Vec<String>,
    pub shutdown_grace: Duration,
    pub chat_per_second: f64,
    pub chat_burst: u32,
    pub close_linger: Duration,
}

/// Seed of `--map-size` maps: fixed, so a size names one map whoever runs it.
const GENERATED_MAP_SEED: u64 = 7;

/// Parses `WIDTHxHEIGHT` within the sizes a map may have.
fn parse_map_size(text: &str) -> Result<(i32, i32), String> {
    let (width, height) = text.split_once(['x', 'X']).ok_or("expected WIDTHxHEIGHT, for example 7600x5060")?;
    let side = |value: &str| {
        value.trim().parse::<i32>().ok().filter(|side| (MIN_MAP_SIZE..=MAX_MAP_SIZE).contains(side)).ok_or_else(|| {
            format!("each side must be a whole number of units from {MIN_MAP_SIZE} to {MAX_MAP_SIZE}, got {value:?}")
        })
    };
    Ok((side(width)?, side(height)?))
}

fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.clamp(0.001, 86_400.0))
}

/// Why the flags do not make a runnable server.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Link(String),
    #[error("{0}")]
    Directory(String),
    #[error("cannot create the directory {path}: {source}")]
    RecordingDir { path: String, source: std::io::Error },
    #[error("--log-frames needs a directory: --log-frames-dir or --record")]
    FramesWithoutDir,
    #[error("--replay {path}: {error}")]
    Replay { path: String, error: String },
    #[error(transparent)]
    Map(#[from] MapError),
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    #[error(transparent)]
    MetricsToken(#[from] BadMetricsToken),
}

/// One room's settings: a room is created from these and nothing else.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Set by the lobby when the room is created (12 characters of a-z and 2-7).
    pub id: String,
    pub name: String,
    pub map: Map,
    /// The map as the lobby lists it and quick play filters on: a bundled name, `WIDTHxHEIGHT`, or a map file's name.
    pub map_label: String,
    pub tick_rate: u32,
    pub max_players: usize,
    pub max_spectators: usize,
    /// 0: everyone sees everyone.
    pub view_radius: f32,
    pub seed: u64,
    /// Not listed, not chosen by quick play; joinable by id.
    pub private: bool,
    /// A client whose outbox stays full this long is closed (`--slow-client-secs`).
    pub slow_client_timeout: Duration,
    /// The room closes after this long without players or spectators.
    pub empty_grace: Duration,
    /// A dropped player's seat is held this long for a resume (zero: resuming is off).
    pub resume_grace: Duration,
    /// Lag compensation's furthest rewind, in milliseconds (0: off).
    pub max_rewind_ms: u32,
    /// Test hook: keep the room's own snapshots of the last this-many ticks where tests can read them.
    pub record_snapshots: usize,
    /// Test hook: the room panics right after this tick, to show that a crashed room is never a clean stop.
    pub panic_at_tick: Option<u32>,
    /// Test hook: every tick takes at least this long (a deliberately slow room).
    pub min_tick_time: Duration,
}

/// Everything the process needs to run, resolved from `Args` (the default room's map loaded and validated).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub limits: Limits,
    pub max_rooms: usize,
    /// Rooms one address may create per minute.
    pub room_creations_per_minute: u32,
    /// What is recorded (`--record`, `--log-frames`); nothing by default.
    pub recording: RecordingConfig,
    /// A recording to play back in a room of its own (`--replay`).
    pub replay: Option<Arc<Recording>>,
    /// Threads of the room pool.
    pub room_threads: usize,
    /// Set when join tokens are required (`--auth-secret`).
    pub auth: Option<Arc<Authenticator>>,
    /// Set when `/metrics`, the dashboard and the full `/healthz` need a token (`--metrics-token`).
    pub metrics_token: Option<MetricsToken>,
    /// The link conditioner's profile (`--link-*`), `None` when off.
    pub link: Option<crate::conditioner::LinkProfile>,
    /// The conditioner may run beyond loopback (`--link-allow-public`).
    pub link_allow_public: bool,
    /// The shared room directory (`--redis`), `None` when the process runs alone.
    pub directory: Option<crate::directory::DirectoryConfig>,
    /// How long SIGTERM lets matches run before exiting, with a directory.
    pub drain: Duration,
    /// What a room gets for every setting its creator leaves out; `max_players` is also the most it may ask for.
    pub room: RoomConfig,
}

impl ServerConfig {
    pub fn from_args(args: &Args) -> Result<ServerConfig, ConfigError> {
        let auth = match crate::auth::load_secret(args.auth_secret.clone(), args.auth_secret_file.clone())? {
            Some(secret) => Some(Arc::new(Authenticator::new(&secret)?)),
            None => None,
        };
        let metrics_token = match &args.metrics_token {
            Some(token) => Some(token.clone()),
            None => std::env::var("SKIRMISH_METRICS_TOKEN").ok().filter(|token| !token.trim().is_empty()),
        };
        let metrics_token = metrics_token.as_deref().map(MetricsToken::new).transpose()?;
        let (map, map_label) = match (&args.map, args.map_size) {
            (Some(path), _) => {
                let map = Map::load(path)?;
                let label = map.name.clone();
                (map, label)
            }
            (None, Some((width, height))) => {
                (Map::generated(width, height, GENERATED_MAP_SEED), format!("{width}x{height}"))
            }
            (None, None) => (Map::bundled_arena(), "arena".to_string()),
        };
        let recording = recording_config(args)?;
        let link = args.link.profile().map_err(ConfigError::Link)?;
        if link.is_some() && !args.addr.ip().is_loopback() && !args.link_allow_public {
            return Err(ConfigError::Link(format!(
                "the link conditioner delays every player's traffic; it runs on loopback only, not on {} (add \
                 --link-allow-public if that is really meant)",
                args.addr
            )));
        }
        let directory = directory_config(args)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(ServerConfig {
            addr: args.addr,
            recording,
            replay: args.replay.as_deref().map(load_replay).transpose()?,
            max_rooms: args.max_rooms as usize,
            room_creations_per_minute: args.room_creations_per_minute,
            room_threads: args.room_threads.map_or(cores, |n| n as usize),
            auth,
            metrics_token,
            link,
            link_allow_public: args.link_allow_public,
            directory,
            drain: Duration::from_secs_f64(args.drain_secs.clamp(0.0, 86_400.0)),
            room: RoomConfig {
                id: String::new(),
                name: String::new(),
                map,
                map_label,
                tick_rate: args.tick_rate,
                max_players: args.max_players as usize,
                max_spectators: args.max_spectators as usize,
                view_radius: if args.view_radius.is_finite() { args.view_radius.max(0.0) } else { 0.0 },
                seed: args.seed,
                private: false,
                slow_client_timeout: seconds(args.slow_client_secs),
                empty_grace: seconds(args.empty_room_secs),
                resume_grace: Duration::from_secs_f64(args.resume_grace_secs.clamp(0.0, 86_400.0)),
                max_rewind_ms: args.max_rewind_ms,
                record_snapshots: 0,
                panic_at_tick: args.test_panic_at_tick,
                min_tick_time: Duration::ZERO,
            },
            limits: Limits {
                max_message_bytes: args.max_message_bytes,
                outbox_frames: args.outbox_frames.max(1),
                send_buffer_bytes: args.send_buffer_bytes,
                max_connections: args.max_connections,
                max_connections_per_ip: args.max_connections_per_ip,
                handshake_timeout: seconds(args.handshake_timeout_secs),
                hello_timeout: seconds(args.hello_timeout_secs),
                ping_interval: seconds(args.ping_interval_secs),
                idle_timeout: seconds(args.idle_timeout_secs),
                input_rate: args.input_rate.max(1),
                input_burst: args.input_burst.max(1),
                allowed_origins: args.allowed_origins.clone(),
                shutdown_grace: seconds(args.shutdown_grace_secs),
                chat_per_second: args.chat_per_second.clamp(0.001, 1000.0),
                chat_burst: args.chat_burst,
                close_linger: seconds(args.close_linger_secs),
            },
        })
    }

    /// The defaults, listening on an ephemeral loopback port: what tests and benchmarks start from.
    pub fn for_tests() -> ServerConfig {
        let args = Args::parse_from(["skirmish", "--addr", "127.0.0.1:0"]);
        let mut config = ServerConfig::from_args(&args).expect("the bundled map is valid");
        // Whatever the environment says: tests turn authentication and the metrics token on themselves.
        config.auth = None;
        config.metrics_token = None;
        config
    }
}

impl RoomConfig {
    /// The default room settings of `ServerConfig::for_tests` (tests and benchmarks of a room alone).
    pub fn for_tests() -> RoomConfig {
        let mut room = ServerConfig::for_tests().room;
        room.id = "testroom2345".into();
        room.name = "test room".into();
        room
    }
}

/// The directory settings of `args`: `--redis` needs a cluster secret of at least 32 bytes.
fn directory_config(args: &Args) -> Result<Option<crate::directory::DirectoryConfig>, ConfigError> {
    let Some(redis_url) = &args.redis else { return Ok(None) };
    let secret = match (&args.cluster_secret, &args.cluster_secret_file) {
        (Some(secret), _) => secret.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec())
            .map_err(|error| ConfigError::Directory(format!("--cluster-secret-file {}: {error}", path.display())))?,
        (None, None) => std::env::var("SKIRMISH_CLUSTER_SECRET").map(String::into_bytes).unwrap_or_default(),
    };
    if secret.len() < crate::directory::seat::MIN_SECRET_BYTES {
        return Err(ConfigError::Directory(format!(
            "--redis needs a cluster secret of at least {} bytes (--cluster-secret, --cluster-secret-file or \
             SKIRMISH_CLUSTER_SECRET), the same on every process",
            crate::directory::seat::MIN_SECRET_BYTES
        )));
    }
    let positive = |secs: f64, flag: &str| match secs.is_finite() && (0.1..=3600.0).contains(&secs) {
        true => Ok(Duration::from_secs_f64(secs)),
        false => Err(ConfigError::Directory(format!("{flag} must be between 0.1 and 3600 seconds, got {secs}"))),
    };
    let public_url = args.public_url.clone().unwrap_or_default();
    if !(public_url.is_empty() || public_url.starts_with("ws://") || public_url.starts_with("wss://")) {
        return Err(ConfigError::Directory(format!(
            "--public-url must be a ws:// or wss:// URL (where players reach this process), got {public_url}"
        )));
    }
    if public_url.is_empty() && args.addr.ip().is_unspecified() {
        return Err(ConfigError::Directory(format!(
            "listening on {} with --redis needs --public-url: other processes send players to it, and {} is no \
             address to connect to",
            args.addr,
            args.addr.ip()
        )));
    }
    Ok(Some(crate::directory::DirectoryConfig {
        redis_url: redis_url.clone(),
        prefix: args.redis_prefix.clone(),
        public_url,
        ttl: positive(args.directory_ttl_secs, "--directory-ttl-secs")?,
        secret,
        seat_ttl: positive(args.seat_ttl_secs, "--seat-ttl-secs")?,
    }))
}

/// Reads and decodes the recording `--replay` names.
fn load_replay(path: &std::path::Path) -> Result<Arc<Recording>, ConfigError> {
    let failed = |error: String| ConfigError::Replay { path: path.display().to_string(), error };
    let bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    Recording::load(&bytes).map(Arc::new).map_err(|e| failed(e.to_string()))
}

/// The recording settings of `args`, with their directories created.
fn recording_config(args: &Args) -> Result<RecordingConfig, ConfigError> {
    let frames_dir = args.log_frames_dir.clone().or_else(|| args.record.clone());
    if !args.log_frames.is_empty() && frames_dir.is_none() {
        return Err(ConfigError::FramesWithoutDir);
    }
    let frames_dir = frames_dir.filter(|_| !args.log_frames.is_empty());
    for dir in args.record.iter().chain(&frames_dir) {
        std::fs::create_dir_all(dir)
            .map_err(|source| ConfigError::RecordingDir { path: dir.display().to_string(), source })?;
    }
    Ok(RecordingConfig {
        dir: args.record.clone(),
        max_bytes: args.record_max_bytes,
        checksum_every: args.record_checksum_every,
        state_every: args.record_state_every,
        log_frames: args.log_frames.clone(),
        frames_dir,
    })
}

/// A bundled map by name.
pub fn bundled_map(name: &str) -> Option<Map> {
    let (_, json) = BUNDLED_MAPS.iter().find(|(bundled, _)| *bundled == name)?;
    match Map::parse(json, name) {
        Ok(map) => Some(map),
        Err(e) => panic!("the bundled map {name} is invalid: {e}"),
    }
}
