//! Counters of the network edge, shared by the accept loop, every connection and `/healthz`: connections open,
//! messages dropped by the rate limit, refusals, and every disconnect by its typed reason.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::link::DisconnectReason;

/// Server-wide counters.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Open TCP connections (HTTP and WebSocket).
    pub connections: AtomicUsize,
    /// Open WebSocket sessions.
    pub websockets: AtomicUsize,
    /// Connections closed for breaking a rule (bad frames, bad messages, floods, timeouts of the handshake).
    pub violations: AtomicU64,
    /// Client messages dropped by the rate limit.
    pub messages_dropped: AtomicU64,
    /// Connections refused at accept time by the total or per-IP limit.
    pub refused: AtomicU64,
    /// WebSocket frames and payload bytes received from clients (every frame, control frames included).
    pub frames_received: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Connections ended, by why.
    pub disconnects: DisconnectCounts,
}

/// One counter per `DisconnectReason`.
#[derive(Debug, Default)]
pub struct DisconnectCounts([AtomicU64; DisconnectReason::ALL.len()]);

impl DisconnectCounts {
    pub fn record(&self, reason: DisconnectReason) {
        self.0[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, reason: DisconnectReason) -> u64 {
        self.0[reason.index()].load(Ordering::Relaxed)
    }

    /// Every reason with its count, zeros included, in `DisconnectReason::ALL` order.
    pub fn all(&self) -> impl Iterator<Item = (DisconnectReason, u64)> + '_ {
        DisconnectReason::ALL.iter().map(|&reason| (reason, self.get(reason)))
    }
}
