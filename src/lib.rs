//! Skirmish: an authoritative multiplayer game server for a top-down arena shooter.
//!
//! One process hosts many rooms; in each, a fixed-rate tick loop owns the world. WebSocket connections are seated in
//! a room by the lobby, feed it inputs through a queue and receive MessagePack snapshots, each a delta against the
//! newest tick that client acknowledged.
//!
//! # Layout
//! - [`server`]: the network edge — accept loop, HTTP routes (bundled client, `/healthz`, `/rooms`, `/maps`, `/ws`),
//!   the room pool, shutdown.
//! - [`connection`]: one WebSocket — a reader that validates and forwards client messages (and, when the socket
//!   drops, tells the room whether to hold the seat), a writer that drains the client's bounded outbox, and the
//!   lingering close of RFC 6455 section 7.1.1.
//! - [`link`]: the mailbox between a socket and a room — outgoing frames, the close request, the typed
//!   [`link::DisconnectReason`]; both the edge and the room import it, the room never imports the edge.
//! - [`telemetry`]: the edge's counters, and the census of them and every room's that `/metrics` (Prometheus) and
//!   `/healthz` are both rendered from; [`shutdown`]: the signal
//!   every loop watches.
//! - [`protocol`]: the message types of protocol v4, pure data; [`codec`]: bytes ↔ messages, limits, typed errors;
//!   [`msgpack`]: the lean reader behind the clients' snapshot decoding.
//! - [`lobby`]: the room registry and matchmaking (create, find, list, quick play, spectate) and the room pool;
//!   [`session`]: a client's seat (who, which room, which role), from a hello's `join` or a resume token;
//!   [`auth`]: signed join tokens (HS256 JWTs) when authentication is on.
//! - [`room`]: one room — its state and pure tick (`room/mod.rs`: drain inputs, step, snapshot; players and
//!   spectators, chat), seats that outlive a socket (`room/seats.rs`), the send stage (`room/replication.rs`) and the
//!   driver, its only clock (`room/driver.rs`).
//! - [`sim`]: the pure simulation (map, players, bullets, collisions); no I/O, no clock, deterministic per seed.
//! - [`interest`]: interest management — which entities each client sees when a view radius is set.
//! - [`snapshot`]: per-tick world snapshots, the history ring, deltas against acknowledged baselines, and the
//!   client-side replica that rebuilds the world from them.
//! - [`client`]: a WebSocket client library (connect, hello, apply snapshots, acknowledge, send input), used by the
//!   bots and the integration tests.
//! - [`bot`]: the bots' pure decision logic; [`swarm`]: runs many bots against a server and reports what they saw.
//! - [`recording`]: match recordings (`--record`), replayed exactly by `skirmish replay`, and frame logs of one
//!   connection (`--log-frames`); `skirmish inspect` shows either as JSON lines.
//! - [`config`]: flags, limits, `ServerConfig` for the process and `RoomConfig` for one room; [`metrics`]: the
//!   histogram behind tick timings and the bots' latencies.

pub mod auth;
pub mod bot;
pub mod client;
pub mod codec;
pub mod conditioner;
pub mod config;
pub mod connection;
pub mod directory;
pub mod feel;
pub mod interest;
pub mod link;
pub mod lobby;
pub mod metrics;
pub mod msgpack;
pub mod protocol;
pub mod recording;
pub mod room;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod sim;
pub mod snapshot;
pub mod swarm;
pub mod telemetry;
