//! The shutdown signal every long-running loop watches: a `watch` channel that turns true once.

use tokio::sync::watch;

/// Resolves once shutdown is requested (or the sender is gone).
pub async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
