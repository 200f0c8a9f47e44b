//! Headless bots: connects many real players to a server, lets them play, and reports what they experienced.
//!
//! By default they quick-play (one room while it has space); `--rooms N` has them create N rooms and spread over
//! them, `--spectators K` adds clients that watch, and `--churn P` drops P connections per bot per minute (the bots
//! resume their seats). Exit codes: 0 a healthy run, 1 the run could not start (the server is down, refused the
//! first bot or the creation of a room, or no bot connected), 2 bad flags (or churn against a server that does not
//! hold seats), 3 desyncs, 4 failed resumes.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use skirmish::protocol::PROTOCOL_VERSION;
use skirmish::swarm::{self, Progress, RoomsConfig, SwarmConfig};
use tokio::sync::watch;

/// Connects many bots that really play (chase, strafe, aim, fire, avoid walls) and reports snapshot rates,
/// bandwidth, latencies and desyncs, in total and per room.
#[derive(Debug, Parser)]
#[command(name = "bots", version, about)]
struct Args {
    /// WebSocket URL of the server.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Number of bots.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Seconds to run (counted from the start, ramp-up included); Ctrl-C stops earlier.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Bots connected per second while ramping up.
    #[arg(long, default_value_t = 100.0)]
    ramp: f64,
    /// Inputs per second per bot (sent right after snapshots, so at most the server's tick rate); 0 makes idle
    /// bots that only acknowledge snapshots.
    #[arg(long, default_value_t = 30.0)]
    input_rate: f64,
    /// Move and aim but never fire (a players-only load, with no bullets in the world).
    #[arg(long)]
    hold_fire: bool,
    /// Bot names are this prefix followed by the bot's number (cut to 16 characters).
    #[arg(long, default_value = "bot")]
    name_prefix: String,
    /// Seed of the bots' decisions; the same seed repeats the same choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Protocol version to claim (to check a server's version handling).
    #[arg(long, default_value_t = PROTOCOL_VERSION)]
    protocol_version: u16,
    /// Create this many rooms and spread the bots over them: the first bot of each room creates it (named
    /// "<room-name-prefix> 1".."<room-name-prefix> N"), the others join by its id, bot i in room i % N. Without it
    /// every bot quick-plays (the fullest public room with space, so one room while it has space).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rooms: Option<u64>,
    /// Map of the rooms --rooms creates: a bundled map (arena, duel; GET /maps lists them) or a generated
    /// WIDTHxHEIGHT such as 4000x4000 [default: the server's].
    #[arg(long, requires = "rooms")]
    room_map: Option<String>,
    /// Players each room --rooms creates admits [default: the server's --max-players].
    #[arg(long, requires = "rooms")]
    room_max_players: Option<u32>,
    /// Names of the rooms --rooms creates: this prefix, a space and the room's number.
    #[arg(long, default_value = "bots", requires = "rooms")]
    room_name_prefix: String,
    /// Extra clients that spectate (by room id, spread over the rooms; with quick play, the first bot's room) and
    /// only acknowledge; they connect after the bots and are reported apart from them.
    #[arg(long, default_value_t = 0)]
    spectators: usize,
    /// Connection drops per bot per minute (0.2: a fifth of the bots each minute, at random moments): the socket is
    /// ended without a close frame, and the bot resumes its seat with its resume token, retrying from 100 ms
    /// doubling to 5 s (jittered ±25%) until the server's resume grace runs out.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    churn: f64,
    /// The server's join-token secret, for a server started with --auth-secret: each bot signs a token for its own
    /// name (also read from --auth-secret-file or SKIRMISH_AUTH_SECRET).
    #[arg(long, conflicts_with = "auth_secret_file")]
    auth_secret: Option<String>,
    /// A file holding that secret.
    #[arg(long)]
    auth_secret_file: Option<std::path::PathBuf>,
    /// The interpolation delay the play-feel figures model, in ticks; without it the browser's adaptive rule
    /// (1.5 to 6 ticks, from the measured jitter). `--interp-ticks 2` is the client before adaptive interpolation.
    #[arg(long, value_name = "TICKS")]
    interp_ticks: Option<f64>,
    #[command(flatten)]
    link: skirmish::conditioner::LinkArgs,
    /// Load mode: 1 bot in N decodes every snapshot and plays (its desyncs and play feel are measured); the other
    /// bots only read each snapshot's head, acknowledge it and walk a seeded circle, sending the same inputs at the
    /// same rate, so one process can drive a thousand players in view. Flagged in the report. 1: every bot plays.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    decode_every: u64,
    /// Print one JSON object on stdout at the end instead of the human-readable report.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let auth_secret = match skirmish::auth::load_secret(args.auth_secret.clone(), args.auth_secret_file.clone()) {
        Ok(secret) => secret,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    let link = match args.link.profile() {
        Ok(profile) => profile.map(|profile| Arc::new(skirmish::conditioner::Conditioner::new(profile, args.seed))),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    let delay_rule = match args.interp_ticks {
        Some(ticks) if ticks.is_finite() && (0.0..=30.0).contains(&ticks) => skirmish::feel::DelayRule::Fixed(ticks),
        Some(ticks) => {
            eprintln!("error: --interp-ticks must be between 0 and 30, got {ticks}");
            std::process::exit(2);
        }
        None => skirmish::feel::DelayRule::Adaptive,
    };
    let config = SwarmConfig {
        url: args.url.clone(),
        count: args.count,
        duration: Duration::from_secs_f64(args.duration.max(0.0)),
        ramp_per_sec: args.ramp,
        input_rate: args.input_rate,
        hold_fire: args.hold_fire,
        decode_every: args.decode_every as usize,
        name_prefix: args.name_prefix.clone(),
        seed: args.seed,
        protocol_version: args.protocol_version,
        rooms: args.rooms.map(|count| RoomsConfig {
            count: count as usize,
            name_prefix: args.room_name_prefix.clone(),
            map: args.room_map.clone(),
            max_players: args.room_max_players,
        }),
        spectators: args.spectators,
        churn_per_minute: args.churn,
        auth_secret,
        link,
        delay_rule,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: closing every bot");
            let _ = stop_tx.send(true);
        }
    });
    let progress = Arc::new(Progress::default());
    let ticker = tokio::spawn(print_progress(progress.clone(), args.count, args.spectators, args.churn > 0.0));
    let result = swarm::run(config, progress, stop_rx).await;
    ticker.abort();
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(if matches!(error, swarm::SwarmError::BadConfig(_)) { 2 } else { 1 });
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report).expect("the report serializes"));
    } else {
        print!("{}", report.render());
    }
    let _ = std::io::stdout().flush();
    if report.connected == 0 {
        eprintln!("error: no bot connected");
        std::process::exit(1);
    }
    if report.all_desyncs() > 0 {
        eprintln!("error: {} desyncs (a healthy run has none)", report.all_desyncs());
        std::process::exit(3);
    }
    if report.failed_resumes > 0 {
        eprintln!(
            "error: {} failed resumes (a healthy server takes every seat back within its grace)",
            report.failed_resumes
        );
        std::process::exit(4);
    }
}

/// One line a second on stderr: bots connected, snapshot rate, bandwidth, desyncs, kills (and spectators, and
/// with churn the drops and resumes so far).
async fn print_progress(progress: Arc<Progress>, count: usize, spectators: usize, churn: bool) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.tick().await;
    let mut seconds = 0;
    let (mut last_snapshots, mut last_in, mut last_out) = (0, 0, 0);
    loop {
        interval.tick().await;
        seconds += 1;
        let snapshots = progress.snapshots.load(Ordering::Relaxed);
        let bytes_in = progress.bytes_in.load(Ordering::Relaxed);
        let bytes_out = progress.bytes_out.load(Ordering::Relaxed);
        let watching = if spectators == 0 {
            String::new()
        } else {
            format!(
                "  spectators {}/{spectators} ({} failed)",
                progress.spectators_active.load(Ordering::Relaxed),
                progress.spectators_failed.load(Ordering::Relaxed)
            )
        };
        let churning = if churn {
            format!(
                "  drops {}  resumes {} ({} failed)",
                progress.drops.load(Ordering::Relaxed),
                progress.resumes.load(Ordering::Relaxed),
                progress.failed_resumes.load(Ordering::Relaxed)
            )
        } else {
            String::new()
        };
        eprintln!(
            "{seconds:>4}s  bots {}/{count} ({} failed)  snapshots/s {}  in {:.1} KiB/s  out {:.1} KiB/s  desyncs {}  kills {}{churning}{watching}",
            progress.active.load(Ordering::Relaxed),
            progress.failed.load(Ordering::Relaxed),
            snapshots - last_snapshots,
            (bytes_in - last_in) as f64 / 1024.0,
            (bytes_out - last_out) as f64 / 1024.0,
            progress.desyncs.load(Ordering::Relaxed),
            progress.kills.load(Ordering::Relaxed),
        );
        (last_snapshots, last_in, last_out) = (snapshots, bytes_in, bytes_out);
    }
}
