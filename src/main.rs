//! The server binary: parse flags, set up tracing, run until SIGINT or SIGTERM, shut down gracefully.

use clap::Parser;
use skirmish::config::{Args, Config};
use tracing_subscriber::EnvFilter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(skirmish::server::yield_to_the_room_thread)
        .build()?;
    runtime.block_on(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    // Logs go to stderr; stdout carries only the listening line, for scripts that start the server.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    let server = skirmish::server::start(config).await?;
    println!("skirmish listening on http://{} (play in a browser; WebSocket at /ws)", server.local_addr);
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        _ = room_crashed(&server) => tracing::error!("the room thread stopped unexpectedly; shutting down"),
    }
    // Re-raises a room panic, so a crashed server exits non-zero.
    server.shutdown().await;
    Ok(())
}

/// Resolves if the room thread ends by itself, which only a panic does.
async fn room_crashed(server: &skirmish::server::RunningServer) {
    while !server.room_stopped() {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
