//! One row end to end: a fresh server, the bots (quick play into one room, or `--rooms` creating many), the
//! ramp-up, the warm-up, the measured window, and what it measured.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::plan::{Mode, Plan, RowSpec};
use crate::processes::{
    check_alive, child_command, idle, listening_address, log_file, log_tail, pause, sys, ChildGuard,
};
use crate::sampling::{
    healthz, healthz_retrying, machine_busy_ticks, proc_cpu, proc_rss_kib, proc_threads, Health, RoomHealth,
};
use crate::Stop;

/// Linux reports process CPU time in clock ticks of USER_HZ, which is 100 on every mainstream architecture.
const USER_HZ: f64 = 100.0;

/// The part of the bots' `--json` report the benchmark reads.
#[derive(Clone, Debug, Deserialize)]
pub struct BotsReport {
    pub connected: u64,
    pub failed: u64,
    pub disconnected: u64,
    pub close_reasons: BTreeMap<String, u64>,
    pub snapshots_per_bot_s: f64,
    pub interarrival_ms_p99: f64,
    pub ack_latency_ms_p99: f64,
    pub desyncs: u64,
    pub duration_s: f64,
    pub cpu_percent: f64,
    /// Load mode: bots that read snapshot heads only.
    #[serde(default)]
    pub light_bots: u64,
    #[serde(default)]
    pub in_view_mean: f64,
}

/// What one row measured.
#[derive(Debug)]
pub struct Measurement {
    /// Players in the server at the start and the end of the window.
    pub players: (u64, u64),
    /// Rooms open at the start and the end of the window.
    pub rooms: (usize, usize),
    /// Fewest and most players in one room at the window's start and end (the fewer of the two fewest, the more of
    /// the two most).
    pub room_players: (u64, u64),
    pub server_user_percent: f64,
    pub server_system_percent: f64,
    /// At the end of the window: resident memory (`VmRSS`) and threads.
    pub server_rss_kib: u64,
    pub server_threads: u64,
    /// The median room's (by tick p99) cumulative tick durations at the end of the window: p50, p99 and maximum.
    pub tick_us: (f64, f64, f64),
    /// The slowest room's tick p99 (`/healthz` `worst_tick_micros_p99`).
    pub worst_tick_p99_us: f64,
    pub overruns: u64,
    /// Ticks per second of a room over the window: the mean over the rooms open at both ends, and the slowest's.
    pub ticks_per_s: f64,
    pub slowest_ticks_per_s: f64,
    pub bytes_per_player_s: f64,
    pub frames_per_player_s: f64,
    pub frames_dropped: u64,
    /// The bots' CPU over the window, from /proc.
    pub bots_window_cpu_percent: Option<f64>,
    /// CPU used over the window by everything but the server and the bots, from /proc/stat.
    pub other_cpu_percent: Option<f64>,
    pub bots: Option<BotsReport>,
    /// The floor measured right before this row, for the same number of clients.
    pub floor: Option<crate::floor::FloorReading>,
    pub notes: Vec<String>,
}

/// How a row ended.
pub enum Outcome {
    Measured(Box<Measurement>),
    /// The server build has no `--view-radius` (an "on" row) or hosts one room only (a multi-room row).
    NotAvailable,
    Failed(String),
}

pub struct Row {
    pub spec: RowSpec,
    pub mode: Mode,
    pub outcome: Outcome,
}

/// Runs one row; every wait inside is bounded, and both children are killed when this returns.
pub fn run_row(plan: &Plan, spec: RowSpec, mode: Mode) -> Result<Measurement, Stop> {
    let tag = format!("{}-{}", spec.label(), mode.name());
    let players = spec.total();
    let mut notes = Vec::new();

    let server_log = plan.log_dir.join(format!("server-{tag}.log"));
    let mut command = child_command(&plan.server_bin, plan.server_cpus());
    command.args(["--addr", "127.0.0.1:0"]);
    // Room, connection and per-address limits with room to spare for the row's bots and the health checks.
    command.arg("--max-players").arg((spec.players + 100).max(1000).to_string());
    command.arg("--max-connections").arg((players + 100).max(4096).to_string());
    command.arg("--max-connections-per-ip").arg((players + 100).max(1024).to_string());
    if let Some(rooms) = spec.rooms {
        command.arg("--max-rooms").arg(rooms.to_string());
        // The bots create every room from one address.
        if plan.creation_quota_flag {
            command.arg("--room-creations-per-minute").arg(rooms.max(20).to_string());
        }
    }
    // The default map, which every room of the row gets (the bots create theirs without a map).
    if let Some((width, height)) = plan.arena(spec.players) {
        command.arg("--map-size").arg(format!("{width}x{height}"));
    }
    if plan.view_radius_flag {
        let radius = if mode == Mode::On { plan.view_radius } else { 0 };
        command.arg("--view-radius").arg(radius.to_string());
    }
    if std::env::var_os("RUST_LOG").is_none() {
        // Warnings (overruns, slow clients) are worth keeping; per-join info lines are not worth their cost.
        command.env("RUST_LOG", "warn");
    }
    command.stdout(Stdio::piped()).stderr(log_file(&server_log)?);
    let mut server = ChildGuard::spawn("server", command)?;
    let addr = listening_address(&mut server, &server_log)?;

    let bots_log = plan.log_dir.join(format!("bots-{tag}.log"));
    let join_budget = players as f64 / plan.ramp * 1.5 + 20.0;
    // An upper bound only: the bots are stopped with SIGINT right after the window.
    let duration = join_budget + plan.warmup + plan.window + 60.0;
    let mut command = child_command(&plan.bots_bin, plan.bots_cpus());
    command.arg("--url").arg(format!("ws://{addr}/ws"));
    command.arg("--count").arg(players.to_string());
    if let Some(rooms) = spec.rooms {
        command.arg("--rooms").arg(rooms.to_string());
    }
    command.arg("--duration").arg(format!("{duration:.0}"));
    command.arg("--ramp").arg(plan.ramp.to_string());
    if plan.players_only {
        command.arg("--hold-fire");
    }
    if plan.decode_every > 1 {
        command.arg("--decode-every").arg(plan.decode_every.to_string());
    }
    command.arg("--json");
    command.stdout(Stdio::piped()).stderr(log_file(&bots_log)?);
    let mut bots = ChildGuard::spawn("bots", command)?;
    let report = bots.read_stdout();

    // Ramp-up: until every bot is in, or the budget is spent (then measure what joined, and say so).
    let ramp_started = Instant::now();
    loop {
        check_alive(&mut server, &server_log, &mut bots, &bots_log)?;
        if let Ok(health) = healthz(addr) {
            if health.players >= players as u64 {
                break;
            }
            if ramp_started.elapsed().as_secs_f64() > join_budget {
                notes.push(format!("only {} of {players} joined within {join_budget:.0} s", health.players));
                break;
            }
        }
        pause(Duration::from_millis(250))?;
    }
    idle(plan.warmup, &mut server, &server_log, &mut bots, &bots_log)?;

    let (server_cpu0, bots_cpu0, machine0) = (proc_cpu(server.pid())?, proc_cpu(bots.pid()).ok(), machine_busy_ticks());
    let window_start = Instant::now();
    let health0 = healthz_retrying(addr)?;
    idle(plan.window, &mut server, &server_log, &mut bots, &bots_log)?;
    let (server_cpu1, bots_cpu1, machine1) = (proc_cpu(server.pid())?, proc_cpu(bots.pid()).ok(), machine_busy_ticks());
    let window_s = window_start.elapsed().as_secs_f64();
    let health1 = healthz_retrying(addr)?;
    let server_rss_kib = proc_rss_kib(server.pid())?;
    let server_threads = proc_threads(server.pid())?;

    // SIGINT makes the bots close every socket and print their report.
    bots.signal(sys::SIGINT);
    let bots_report = match bots.wait_within(Duration::from_secs(30))? {
        Some(_) => match report.recv_timeout(Duration::from_secs(5)) {
            Ok(stdout) => match stdout.lines().rev().find(|line| line.starts_with('{')) {
                Some(line) => match serde_json::from_str::<BotsReport>(line) {
                    Ok(report) => Some(report),
                    Err(error) => {
                        notes.push(format!("bots' report unreadable: {error}"));
                        None
                    }
                },
                None => {
                    notes.push(format!("bots printed no report ({})", log_tail(&bots_log)));
                    None
                }
            },
            Err(_) => {
                notes.push("bots' report did not arrive".into());
                None
            }
        },
        None => {
            notes.push("bots did not stop within 30 s after SIGINT; no report".into());
            None
        }
    };
    drop(server);

    let percent = |ticks: u64| 100.0 * ticks as f64 / USER_HZ / window_s;
    let players_mean = (health0.players + health1.players) as f64 / 2.0;
    let per_player_second = |total: u64| if players_mean > 0.0 { total as f64 / players_mean / window_s } else { 0.0 };
    let bots_window_cpu_percent =
        bots_cpu0.zip(bots_cpu1).map(|(start, end)| percent(end.user + end.system - start.user - start.system));
    // What the rest of the machine used meanwhile (this process's own polling is a fraction of a percent).
    let other_cpu_percent = machine0.zip(machine1).zip(bots_window_cpu_percent).map(|((start, end), bots)| {
        let server = percent(server_cpu1.user + server_cpu1.system - server_cpu0.user - server_cpu0.system);
        (percent(end.saturating_sub(start)) - server - bots).max(0.0)
    });
    let (ticks_per_s, slowest_ticks_per_s) = room_tick_rates(&health0, &health1, window_s);
    let median = health1.median_room();
    let (fewest0, most0) = health0.room_players();
    let (fewest1, most1) = health1.room_players();
    // The sums over rooms can shrink if a room closes within the window; none should.
    let delta = |end: u64, start: u64| end.saturating_sub(start);
    Ok(Measurement {
        players: (health0.players, health1.players),
        rooms: (health0.rooms.len(), health1.rooms.len()),
        room_players: (fewest0.min(fewest1), most0.max(most1)),
        server_user_percent: percent(server_cpu1.user - server_cpu0.user),
        server_system_percent: percent(server_cpu1.system - server_cpu0.system),
        server_rss_kib,
        server_threads,
        tick_us: median
            .map_or((0.0, 0.0, 0.0), |room| (room.tick_micros_p50, room.tick_micros_p99, room.max_tick_micros)),
        worst_tick_p99_us: health1.worst_room().map_or(0.0, |room| room.tick_micros_p99),
        overruns: delta(health1.tick_overruns, health0.tick_overruns),
        ticks_per_s,
        slowest_ticks_per_s,
        bytes_per_player_s: per_player_second(delta(health1.bytes_sent, health0.bytes_sent)),
        frames_per_player_s: per_player_second(delta(health1.frames_sent, health0.frames_sent)),
        frames_dropped: delta(health1.frames_dropped, health0.frames_dropped),
        bots_window_cpu_percent,
        other_cpu_percent,
        bots: bots_report,
        floor: None,
        notes,
    })
}

/// Ticks per second over the window of each room open at both ends: their mean and the slowest.
fn room_tick_rates(start: &Health, end: &Health, window_s: f64) -> (f64, f64) {
    let rates: Vec<f64> = end
        .rooms
        .iter()
        .filter_map(|room: &RoomHealth| {
            let before = start.rooms.iter().find(|before| before.id == room.id)?;
            Some(room.tick.saturating_sub(before.tick) as f64 / window_s)
        })
        .collect();
    if rates.is_empty() {
        return (0.0, 0.0);
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    (mean, rates.iter().copied().fold(f64::INFINITY, f64::min))
}
