//! What the benchmark samples: the server's `/healthz` (its rooms' ticks, the frames and bytes it sent) and
//! `/proc` (CPU time, resident memory and threads of a process, the whole machine's busy time).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::Deserialize;

use crate::processes::pause;
use crate::Stop;

/// The part of the server's `/healthz` the benchmark reads. A server from before the lobby reported its one room
/// at the top level; `healthz` turns that into a one-element `rooms`.
#[derive(Clone, Debug, Deserialize)]
pub struct Health {
    pub players: u64,
    pub tick_overruns: u64,
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub frames_dropped: u64,
    #[serde(default)]
    pub rooms: Vec<RoomHealth>,
    #[serde(default)]
    tick: Option<u64>,
    #[serde(default)]
    tick_micros_p50: Option<f64>,
    #[serde(default)]
    tick_micros_p99: Option<f64>,
    #[serde(default)]
    max_tick_micros: Option<f64>,
}

/// One room in `/healthz`.
#[derive(Clone, Debug, Deserialize)]
pub struct RoomHealth {
    #[serde(default)]
    pub id: String,
    pub tick: u64,
    pub players: u64,
    /// Percentiles and maximum of the room's tick durations since it was created.
    pub tick_micros_p50: f64,
    pub tick_micros_p99: f64,
    pub max_tick_micros: f64,
}

impl Health {
    /// The room with the slowest tick p99.
    pub fn worst_room(&self) -> Option<&RoomHealth> {
        self.rooms.iter().max_by(|a, b| a.tick_micros_p99.total_cmp(&b.tick_micros_p99))
    }

    /// The room with the median tick p99 (the upper one of an even count): a typical room, whose own p50, p99
    /// and maximum the table shows.
    pub fn median_room(&self) -> Option<&RoomHealth> {
        let mut rooms: Vec<&RoomHealth> = self.rooms.iter().collect();
        rooms.sort_by(|a, b| a.tick_micros_p99.total_cmp(&b.tick_micros_p99));
        rooms.get(rooms.len() / 2).copied()
    }

    /// Fewest and most players in one room.
    pub fn room_players(&self) -> (u64, u64) {
        let players = self.rooms.iter().map(|room| room.players);
        (players.clone().min().unwrap_or(0), players.max().unwrap_or(0))
    }
}

/// One `GET /healthz` over a fresh connection, every step under a timeout.
pub fn healthz(addr: SocketAddr) -> Result<Health, String> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|error| format!("/healthz: {error}"))?;
    stream.set_read_timeout(Some(timeout)).and_then(|()| stream.set_write_timeout(Some(timeout))).ok();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: loadbench\r\nConnection: close\r\n\r\n")
        .map_err(|error| format!("/healthz: {error}"))?;
    let mut response = Vec::new();
    stream.take(1 << 20).read_to_end(&mut response).map_err(|error| format!("/healthz: {error}"))?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").ok_or("/healthz: no HTTP body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("/healthz: {}", head.lines().next().unwrap_or("empty response")));
    }
    let mut health: Health = serde_json::from_str(body).map_err(|error| format!("/healthz: {error}"))?;
    if let (true, Some(tick)) = (health.rooms.is_empty(), health.tick) {
        health.rooms.push(RoomHealth {
            id: String::new(),
            tick,
            players: health.players,
            tick_micros_p50: health.tick_micros_p50.unwrap_or(0.0),
            tick_micros_p99: health.tick_micros_p99.unwrap_or(0.0),
            max_tick_micros: health.max_tick_micros.unwrap_or(0.0),
        });
    }
    Ok(health)
}

/// `/healthz` at a sample point, where one slow answer under load should not cost the row.
pub fn healthz_retrying(addr: SocketAddr) -> Result<Health, Stop> {
    let mut last_error = String::new();
    for _ in 0..3 {
        match healthz(addr) {
            Ok(health) => return Ok(health),
            Err(error) => last_error = error,
        }
        pause(Duration::from_millis(200))?;
    }
    Err(Stop::Failed(last_error))
}

/// User and system CPU time of a process, in clock ticks.
#[derive(Clone, Copy, Debug)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

/// utime and stime of a process (all its threads), from `/proc/PID/stat`.
pub fn proc_cpu(pid: u32) -> Result<CpuTicks, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|error| format!("/proc/{pid}: {error}"))?;
    // The command name is in parentheses and may contain spaces; utime and stime are fields 14 and 15 overall,
    // so the 12th and 13th after the closing parenthesis.
    let rest = stat.rfind(')').map(|i| &stat[i + 1..]).ok_or("odd /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field =
        |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or_else(|| format!("odd /proc/{pid}/stat"));
    Ok(CpuTicks { user: field(11)?, system: field(12)? })
}

/// Busy clock ticks of the whole machine so far (all CPUs, everything but idle and I/O wait), from `/proc/stat`.
pub fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).map(|field| field.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
    let total: u64 = fields.iter().take(8).sum();
    Some(total - fields.get(3)? - fields.get(4)?)
}

/// Resident memory of a process in KiB, from `VmRSS` in `/proc/PID/status`.
pub fn proc_rss_kib(pid: u32) -> Result<u64, String> {
    proc_status_number(pid, "VmRSS")
}

/// Threads of a process, from `Threads` in `/proc/PID/status`.
pub fn proc_threads(pid: u32) -> Result<u64, String> {
    proc_status_number(pid, "Threads")
}

/// The first number of the `key:` line of `/proc/PID/status`.
fn proc_status_number(pid: u32, key: &str) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|error| format!("/proc/{pid}: {error}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}
