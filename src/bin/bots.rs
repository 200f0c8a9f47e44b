//! Headless bots: connects many real players to a server, lets them play, and reports what they experienced.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use skirmish::protocol::PROTOCOL_VERSION;
use skirmish::swarm::{self, Progress, SwarmConfig};
use tokio::sync::watch;

/// Connects many bots that really play (chase, strafe, aim, fire, avoid walls) and reports snapshot rates,
/// bandwidth, latencies and desyncs.
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
    let config = SwarmConfig {
        url: args.url.clone(),
        count: args.count,
        duration: Duration::from_secs_f64(args.duration.max(0.0)),
        ramp_per_sec: args.ramp,
        input_rate: args.input_rate,
        hold_fire: args.hold_fire,
        name_prefix: args.name_prefix.clone(),
        seed: args.seed,
        protocol_version: args.protocol_version,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: closing every bot");
            let _ = stop_tx.send(true);
        }
    });
    let progress = Arc::new(Progress::default());
    let ticker = tokio::spawn(print_progress(progress.clone(), args.count));
    let result = swarm::run(config, progress, stop_rx).await;
    ticker.abort();
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
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
    if report.desyncs > 0 {
        eprintln!("error: {} desyncs (a healthy run has none)", report.desyncs);
        std::process::exit(3);
    }
}

/// One line a second on stderr: bots connected, snapshot rate, bandwidth, desyncs, kills.
async fn print_progress(progress: Arc<Progress>, count: usize) {
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
        eprintln!(
            "{seconds:>4}s  bots {}/{count} ({} failed)  snapshots/s {}  in {:.1} KiB/s  out {:.1} KiB/s  desyncs {}  kills {}",
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
