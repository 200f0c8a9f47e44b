//! What the server tells about itself: the network edge's counters (`ServerStats`, shared by the accept loop and
//! every connection: connections open, messages dropped by the rate limit, refusals, every disconnect by its typed
//! reason), and the two views of them and of the rooms' own counters.
//!
//! Both views are built from one `Census` (`census`), a reading of these counters and of every open room's
//! `RoomStats` taken when asked: `GET /metrics` encodes it in the Prometheus text format through prometheus-client
//! (`exposition`), `/healthz` serializes it as JSON (`health`). Reading at scrape time keeps the room labels bounded
//! (a closed room is simply no longer read), and the lobby folds a closing room's counts into process totals, so
//! those never go down. `access` is the optional token that guards the detailed views.

pub mod access;
pub mod census;
pub mod exposition;
pub mod health;

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
