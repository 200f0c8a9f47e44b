//! The server binary: parse flags, set up tracing, run until SIGINT or SIGTERM, shut down gracefully. Or one of the
//! tools: `token` (a signed join token), `replay` and `inspect` (recordings and frame logs).

use clap::Parser;
use skirmish::config::{Args, Command, LogFormat, ServerConfig};
use tracing_subscriber::EnvFilter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match args.command.clone() {
        Some(Command::Token(token)) => {
            match skirmish::auth::run_token_command(token) {
                Ok(token) => println!("{token}"),
                Err(error) => {
                    eprintln!("error: {error}");
                    std::process::exit(2);
                }
            }
            return Ok(());
        }
        Some(Command::Replay(file)) => std::process::exit(replay(&file.file)),
        Some(Command::Inspect(file)) => std::process::exit(inspect(&file.file)),
        None => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(skirmish::server::yield_to_the_room_thread)
        .build()?;
    runtime.block_on(serve(args))
}

/// `skirmish replay FILE`: 0 when every checksum matches, 1 at a difference, 2 for a bad file.
fn replay(path: &std::path::Path) -> i32 {
    let outcome = read(path).and_then(|bytes| skirmish::recording::replay(&bytes).map_err(|e| e.to_string()));
    match outcome {
        Ok(report) => {
            println!("{report}");
            report.exit_code()
        }
        Err(error) => {
            eprintln!("error: {}: {error}", path.display());
            2
        }
    }
}

/// `skirmish inspect FILE`: JSON lines on stdout; 2 for a bad file.
fn inspect(path: &std::path::Path) -> i32 {
    let bytes = match read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match skirmish::recording::inspect::inspect(&bytes, &mut out) {
        Ok(()) => 0,
        // `inspect FILE | head` closes the pipe early: that is not an error.
        Err(skirmish::recording::inspect::InspectError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(error) => {
            eprintln!("error: {}: {error}", path.display());
            2
        }
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // Logs go to stderr; stdout carries only the listening line, for scripts that start the server.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => logs.init(),
        // The current span's fields (peer, room, player...) and its parents' go into each line.
        LogFormat::Json => logs.json().with_current_span(true).with_span_list(true).init(),
    }
    let config = match ServerConfig::from_args(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    if config.auth.is_some() {
        tracing::info!("authentication on: hellos need a signed join token");
    }
    let drain = config.drain;
    let server = skirmish::server::start(config).await?;
    println!("skirmish listening on http://{} (play in a browser; WebSocket at /ws)", server.local_addr);
    let terminated = shutdown_signal().await;
    // A room that panicked took only its own clients down while the others played on; the shutdown re-raises that
    // panic, so the process still exits non-zero and the crash cannot pass unnoticed.
    if terminated && server.directory.is_some() {
        server.drain(drain).await;
    } else {
        tracing::info!("shutting down");
        server.shutdown().await;
    }
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM; true for SIGTERM (an orchestrator retiring the process: with a directory, it drains).
async fn shutdown_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => false,
            _ = terminate.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        false
    }
}
