//! The load benchmark: runs the release server and the bots at several room sizes, with interest management off
//! and on, measures a steady-state window of each, and rewrites the table between the loadbench markers of
//! `docs/BENCHMARKS.md` (the hand-written text around them survives).
//!
//! Each row gets a fresh server, so its cumulative tick percentiles cover that row only, and a separate bots process,
//! each pinned to a core of its own where the machine allows, so the server's CPU is measured alone and the bots
//! cannot steal its core. A row: start the server on a free loopback port, start the bots, wait for them to join
//! (ramp-up), warm up, sample the server's `/proc` and `/healthz`, wait the window, sample again, stop the bots with
//! SIGINT (they then print their JSON report), kill the server. Server figures are deltas over the window; the bots'
//! latencies come from their report and cover their whole run.
//!
//! Linux only (`/proc`, `taskset`, `prctl`). Children run in a process group of their own, so a Ctrl-C in the
//! terminal reaches only this process, which then stops them itself; a guard kills them on every way out of a row,
//! and `PR_SET_PDEATHSIG` takes them down even if this process is killed outright.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use serde::Deserialize;

/// The loadbench's section of the markdown file lies between these two lines.
const BEGIN_MARKER: &str = "<!-- loadbench:begin -->";
const END_MARKER: &str = "<!-- loadbench:end -->";

/// Linux reports process CPU time in clock ticks of USER_HZ, which is 100 on every mainstream architecture.
const USER_HZ: f64 = 100.0;

/// A process above this share of its core is saturated: if it is the bots, their latencies measure the bots.
const SATURATED_PERCENT: f64 = 90.0;

/// Other processes using more than this share of a core during a window skew it: the row says so.
const OTHER_LOAD_PERCENT: f64 = 10.0;

/// Set by the signal thread on SIGINT or SIGTERM; every wait polls it.
static STOP: AtomicBool = AtomicBool::new(false);

/// Measures the server under load: for each room size a fresh release server and a separate bots process, a
/// ramp-up, a warm-up and a measured steady-state window, with interest management off and on. Writes the results
/// between the loadbench markers of docs/BENCHMARKS.md. Needs `cargo build --release --bins` (cargo run does it).
#[derive(Debug, Parser)]
#[command(name = "loadbench")]
struct Args {
    /// Room sizes (bots in one room), comma-separated [default: 100,500,1000; with --quick: 50,100].
    #[arg(long, value_delimiter = ',')]
    rows: Option<Vec<usize>>,
    /// Seconds of the measured steady-state window [default: 20; with --quick: 5].
    #[arg(long)]
    window_secs: Option<f64>,
    /// Seconds from all bots having joined to the start of the window [default: 10; with --quick: 2].
    #[arg(long)]
    warmup_secs: Option<f64>,
    /// Bots connected per second while ramping up.
    #[arg(long, default_value_t = 100.0)]
    ramp: f64,
    /// Interest management modes to run: `off` is the server's `--view-radius 0` (everyone sees everyone), `on`
    /// passes `--view-radius <VIEW_RADIUS>`.
    #[arg(long, value_enum, default_value_t = Interest::Both)]
    interest: Interest,
    /// The view radius of the "on" rows, in world units (the browser's 1280x720 view reaches 734 units from its
    /// centre).
    #[arg(long, default_value_t = 750)]
    view_radius: u32,
    /// Markdown file whose loadbench section is rewritten (created if missing) [default: docs/BENCHMARKS.md of
    /// this crate; with --quick: none, the table is only printed].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Short smoke run: rows 50,100, 2 s warm-up, 5 s windows, no file written unless --out is given.
    #[arg(long)]
    quick: bool,
    /// Do not pin the server and the bots to cores of their own.
    #[arg(long)]
    no_pin: bool,
    /// Crowd every row into the bundled 2400x1600 arena (made for about 50 players) instead of an arena grown with
    /// the room to keep its density (the tick benchmark's rule).
    #[arg(long)]
    bundled_arena: bool,
    /// Bots that move and aim but never fire (`bots --hold-fire`): the players-only load of the reference figures.
    #[arg(long)]
    players_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Interest {
    Both,
    On,
    Off,
}

/// Interest management in one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Off,
    On,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::On => "on",
        }
    }
}

/// Why a row (or the whole run) stopped early.
#[derive(Debug)]
enum Stop {
    /// SIGINT or SIGTERM: stop everything, write nothing.
    Interrupted,
    /// This row failed; the run goes on with the next one.
    Failed(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Failed(message)
    }
}

fn check_stop() -> Result<(), Stop> {
    if STOP.load(Ordering::Relaxed) {
        Err(Stop::Interrupted)
    } else {
        Ok(())
    }
}

/// Where the server and the bots run.
#[derive(Clone, Debug)]
enum Pinning {
    /// The server on one CPU, the bots on all the others this process may use.
    Pinned {
        server: usize,
        bots: Vec<usize>,
    },
    Unpinned(String),
}

/// Everything a row needs to know.
struct Plan {
    rows: Vec<usize>,
    modes: Vec<Mode>,
    window: f64,
    warmup: f64,
    ramp: f64,
    view_radius: u32,
    /// Whether this build of the server has `--view-radius`.
    view_radius_flag: bool,
    players_only: bool,
    /// Each row's arena grows with its players (`--map-size`), unless the bundled arena is asked for or this build
    /// of the server cannot generate maps.
    scaled_arena: bool,
    pinning: Pinning,
    server_bin: PathBuf,
    bots_bin: PathBuf,
    /// The children's stderr goes to files here.
    log_dir: PathBuf,
}

impl Plan {
    /// The `--map-size` of a row: the bundled arena's 2400 x 1600 grown by sqrt(players / 50) per side, or `None`
    /// for the bundled arena itself.
    fn arena(&self, players: usize) -> Option<(u32, u32)> {
        let scale = (players as f64 / 50.0).sqrt();
        self.scaled_arena.then(|| ((2400.0 * scale).round() as u32, (1600.0 * scale).round() as u32))
    }

    /// The taskset CPU list of the server, if pinned.
    fn server_cpus(&self) -> Option<String> {
        match &self.pinning {
            Pinning::Pinned { server, .. } => Some(server.to_string()),
            Pinning::Unpinned(_) => None,
        }
    }

    /// The taskset CPU list of the bots, if pinned.
    fn bots_cpus(&self) -> Option<String> {
        match &self.pinning {
            Pinning::Pinned { bots, .. } => Some(cpu_list(bots)),
            Pinning::Unpinned(_) => None,
        }
    }

    /// Cores the bots may use: what their CPU share is measured against.
    fn bots_cores(&self) -> usize {
        match &self.pinning {
            Pinning::Pinned { bots, .. } => bots.len(),
            Pinning::Unpinned(_) => allowed_cpus().len().max(1),
        }
    }
}

/// The part of the server's `/healthz` the benchmark reads.
#[derive(Clone, Debug, Deserialize)]
struct Health {
    tick: u64,
    players: u64,
    tick_overruns: u64,
    frames_sent: u64,
    bytes_sent: u64,
    frames_dropped: u64,
    tick_micros_p50: f64,
    tick_micros_p99: f64,
    max_tick_micros: f64,
}

/// The part of the bots' `--json` report the benchmark reads.
#[derive(Clone, Debug, Deserialize)]
struct BotsReport {
    connected: u64,
    failed: u64,
    disconnected: u64,
    close_reasons: BTreeMap<String, u64>,
    snapshots_per_bot_s: f64,
    interarrival_ms_p99: f64,
    ack_latency_ms_p99: f64,
    desyncs: u64,
    duration_s: f64,
    cpu_percent: f64,
}

/// User and system CPU time of a process, in clock ticks.
#[derive(Clone, Copy, Debug)]
struct CpuTicks {
    user: u64,
    system: u64,
}

/// What one row measured.
#[derive(Debug)]
struct Measurement {
    /// Players in the room at the start and the end of the window.
    players: (u64, u64),
    server_user_percent: f64,
    server_system_percent: f64,
    server_rss_kib: u64,
    /// The server's cumulative tick durations at the end of the window (since the server started).
    tick_us: (f64, f64, f64),
    overruns: u64,
    ticks_per_s: f64,
    bytes_per_player_s: f64,
    frames_per_player_s: f64,
    frames_dropped: u64,
    /// The bots' CPU over the window, from /proc.
    bots_window_cpu_percent: Option<f64>,
    /// CPU used over the window by everything but the server and the bots, from /proc/stat.
    other_cpu_percent: Option<f64>,
    bots: Option<BotsReport>,
    notes: Vec<String>,
}

/// How a row ended.
enum Outcome {
    Measured(Box<Measurement>),
    /// The server build has no `--view-radius`.
    NotAvailable,
    Failed(String),
}

struct Row {
    players: usize,
    mode: Mode,
    outcome: Outcome,
}

fn main() -> ExitCode {
    let args = Args::parse();
    watch_signals();
    let started = Instant::now();
    let command_line = command_line();
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("loadbench: {message}");
            return ExitCode::FAILURE;
        }
    };
    let out = match (&args.out, args.quick) {
        (Some(out), _) => Some(out.clone()),
        (None, false) => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/BENCHMARKS.md")),
        (None, true) => None,
    };
    // Read before anything is written, so the commit describes the code that was measured.
    let machine = machine();
    let commit = commit();
    let date = utc_now();
    eprintln!(
        "loadbench: rows {:?}, interest {:?}, ramp {} bots/s, warm-up {} s, window {} s, {}",
        plan.rows,
        plan.modes.iter().map(|mode| mode.name()).collect::<Vec<_>>(),
        plan.ramp,
        plan.warmup,
        plan.window,
        pinning_text(&plan.pinning),
    );
    if !plan.view_radius_flag && plan.modes.contains(&Mode::On) {
        eprintln!("loadbench: this server build has no --view-radius: the \"on\" rows are not available");
    }

    let mut rows = Vec::new();
    for &players in &plan.rows {
        for &mode in &plan.modes {
            if mode == Mode::On && !plan.view_radius_flag {
                rows.push(Row { players, mode, outcome: Outcome::NotAvailable });
                continue;
            }
            eprintln!("loadbench: {players} players, interest {} ...", mode.name());
            let outcome = match run_row(&plan, players, mode) {
                Ok(measurement) => {
                    eprintln!("loadbench:   {}", summary(&measurement));
                    Outcome::Measured(Box::new(measurement))
                }
                // A server without the flag refuses it at start-up (should the --help probe have missed it).
                Err(Stop::Failed(message))
                    if mode == Mode::On && message.contains("unexpected argument '--view-radius'") =>
                {
                    eprintln!("loadbench:   this server build has no --view-radius");
                    Outcome::NotAvailable
                }
                Err(Stop::Failed(message)) => {
                    eprintln!("loadbench:   failed: {message}");
                    Outcome::Failed(message)
                }
                Err(Stop::Interrupted) => {
                    eprintln!("loadbench: interrupted; the server and the bots are stopped, nothing written");
                    return ExitCode::from(130);
                }
            };
            rows.push(Row { players, mode, outcome });
        }
    }

    let elapsed = started.elapsed().as_secs_f64();
    let header_line = [format!("{date}, commit {commit}"), machine.clone()];
    let section = render(&plan, &rows, &Header { date, machine, commit, command_line, elapsed });
    println!("{section}");
    if let Some(out) = out {
        let chart = out.with_extension("svg");
        let written = update_document(&out, &section).and_then(|()| {
            std::fs::write(&chart, chart_svg(&rows, &header_line, plan.bots_cores())).map_err(|e| e.to_string())
        });
        match written {
            Ok(()) => eprintln!("loadbench: wrote {} and {}", out.display(), chart.display()),
            Err(message) => {
                eprintln!("loadbench: could not write {}: {message}", out.display());
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("loadbench: done in {elapsed:.0} s");
    if rows.iter().any(|row| matches!(row.outcome, Outcome::Failed(_))) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Resolves the flags, finds the binaries, decides the pinning and probes the server for `--view-radius`.
fn plan(args: &Args) -> Result<Plan, String> {
    let rows = args.rows.clone().unwrap_or_else(|| if args.quick { vec![50, 100] } else { vec![100, 500, 1000] });
    if rows.is_empty() || rows.contains(&0) {
        return Err("--rows needs positive room sizes".into());
    }
    let window = args.window_secs.unwrap_or(if args.quick { 5.0 } else { 20.0 });
    let warmup = args.warmup_secs.unwrap_or(if args.quick { 2.0 } else { 10.0 });
    if !(window >= 1.0 && warmup >= 0.0 && args.ramp > 0.0) {
        return Err("--window-secs must be at least 1, --warmup-secs at least 0, --ramp positive".into());
    }
    let modes = match args.interest {
        Interest::Both => vec![Mode::Off, Mode::On],
        Interest::On => vec![Mode::On],
        Interest::Off => vec![Mode::Off],
    };
    let exe = std::env::current_exe().map_err(|error| format!("cannot find my own executable: {error}"))?;
    let dir = exe.parent().ok_or("my executable has no directory")?.to_path_buf();
    let (server_bin, bots_bin) = (dir.join("skirmish"), dir.join("bots"));
    for bin in [&server_bin, &bots_bin] {
        if !bin.is_file() {
            return Err(format!("{} is missing: run `cargo build --release --bins` first", bin.display()));
        }
    }
    let log_dir = dir.join("loadbench-logs");
    std::fs::create_dir_all(&log_dir).map_err(|error| format!("cannot create {}: {error}", log_dir.display()))?;
    let help = output_within(Command::new(&server_bin).arg("--help"), Duration::from_secs(10))
        .ok_or_else(|| format!("`{} --help` failed", server_bin.display()))?;
    Ok(Plan {
        rows,
        modes,
        window,
        warmup,
        ramp: args.ramp,
        view_radius: args.view_radius,
        view_radius_flag: help.contains("--view-radius"),
        players_only: args.players_only,
        scaled_arena: !args.bundled_arena && help.contains("--map-size"),
        pinning: pinning(args.no_pin),
        server_bin,
        bots_bin,
        log_dir,
    })
}

/// The server on the first CPU this process may use and the bots on the others, when `taskset` exists.
fn pinning(disabled: bool) -> Pinning {
    if disabled {
        return Pinning::Unpinned("--no-pin".into());
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("taskset").is_file()));
    if !on_path {
        return Pinning::Unpinned("taskset not found".into());
    }
    let cpus = allowed_cpus();
    match cpus[..] {
        [server, ref bots @ ..] if !bots.is_empty() => Pinning::Pinned { server, bots: bots.to_vec() },
        _ => Pinning::Unpinned(format!("{} CPU available", cpus.len())),
    }
}

/// The CPUs this process may run on, from `Cpus_allowed_list` ("0-3,6").
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")) else {
        return Vec::new();
    };
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        let bounds: Vec<usize> = part.split('-').filter_map(|n| n.trim().parse().ok()).collect();
        match bounds[..] {
            [cpu] => cpus.push(cpu),
            [first, last] => cpus.extend(first..=last),
            _ => {}
        }
    }
    cpus
}

/// Runs one row; every wait inside is bounded, and both children are killed when this returns.
fn run_row(plan: &Plan, players: usize, mode: Mode) -> Result<Measurement, Stop> {
    let tag = format!("{players}-{}", mode.name());
    let mut notes = Vec::new();

    let server_log = plan.log_dir.join(format!("server-{tag}.log"));
    let mut command = child_command(&plan.server_bin, plan.server_cpus());
    command.args(["--addr", "127.0.0.1:0"]);
    // Room and per-address limits with room to spare for the row's bots and the health checks.
    command.arg("--max-players").arg((players + 100).max(1000).to_string());
    command.arg("--max-connections-per-ip").arg((players + 100).max(1024).to_string());
    if let Some((width, height)) = plan.arena(players) {
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
    command.arg("--duration").arg(format!("{duration:.0}"));
    command.arg("--ramp").arg(plan.ramp.to_string());
    if plan.players_only {
        command.arg("--hold-fire");
    }
    command.arg("--json");
    command.stdout(Stdio::piped()).stderr(log_file(&bots_log)?);
    let mut bots = ChildGuard::spawn("bots", command)?;
    let report = bots.read_stdout();

    // Ramp-up: until every bot is in the room, or the budget is spent (then measure what joined, and say so).
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
    Ok(Measurement {
        players: (health0.players, health1.players),
        server_user_percent: percent(server_cpu1.user - server_cpu0.user),
        server_system_percent: percent(server_cpu1.system - server_cpu0.system),
        server_rss_kib,
        tick_us: (health1.tick_micros_p50, health1.tick_micros_p99, health1.max_tick_micros),
        overruns: health1.tick_overruns - health0.tick_overruns,
        ticks_per_s: (health1.tick - health0.tick) as f64 / window_s,
        bytes_per_player_s: per_player_second(health1.bytes_sent - health0.bytes_sent),
        frames_per_player_s: per_player_second(health1.frames_sent - health0.frames_sent),
        frames_dropped: health1.frames_dropped - health0.frames_dropped,
        bots_window_cpu_percent,
        other_cpu_percent,
        bots: bots_report,
        notes,
    })
}

/// Waits for the server's "skirmish listening on http://ADDR ..." line on its stdout.
fn listening_address(server: &mut ChildGuard, log: &Path) -> Result<SocketAddr, Stop> {
    let stdout = server.child.stdout.take().ok_or_else(|| Stop::Failed("the server's stdout is not piped".into()))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        // Keep reading to the end, so the server never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent {
                if let Some(addr) = line.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next()) {
                    sent = tx.send(addr.to_string()).is_ok();
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        check_stop()?;
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(addr) => return addr.parse().map_err(|error| Stop::Failed(format!("server address {addr}: {error}"))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.wait_within(Duration::from_secs(2))?;
                let status = status.map_or("still running".to_string(), |status| status.to_string());
                return Err(Stop::Failed(format!("server did not start ({status}): {}", log_tail(log))));
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                return Err(Stop::Failed("server printed no listening line within 15 s".into()));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Fails the row if either child has exited.
fn check_alive(server: &mut ChildGuard, server_log: &Path, bots: &mut ChildGuard, bots_log: &Path) -> Result<(), Stop> {
    if let Some(status) = server.exited() {
        return Err(Stop::Failed(format!("server exited ({status}): {}", log_tail(server_log))));
    }
    if let Some(status) = bots.exited() {
        return Err(Stop::Failed(format!("bots exited early ({status}): {}", log_tail(bots_log))));
    }
    Ok(())
}

/// Sleeps `seconds` while watching both children and the stop flag.
fn idle(
    seconds: f64,
    server: &mut ChildGuard,
    server_log: &Path,
    bots: &mut ChildGuard,
    bots_log: &Path,
) -> Result<(), Stop> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    loop {
        check_alive(server, server_log, bots, bots_log)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        pause(left.min(Duration::from_millis(250)))?;
    }
}

/// Sleeps, then reports a pending stop.
fn pause(duration: Duration) -> Result<(), Stop> {
    std::thread::sleep(duration);
    check_stop()
}

/// A child process, killed (SIGKILL) and reaped when dropped, however the row ends.
struct ChildGuard {
    child: Child,
    name: &'static str,
}

impl ChildGuard {
    fn spawn(name: &'static str, mut command: Command) -> Result<ChildGuard, Stop> {
        let child = command.spawn().map_err(|error| Stop::Failed(format!("cannot start the {name}: {error}")))?;
        Ok(ChildGuard { child, name })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn signal(&self, signal: i32) {
        sys::send_signal(self.pid(), signal);
    }

    /// Its whole stdout, sent once it closes.
    fn read_stdout(&mut self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel();
        if let Some(mut stdout) = self.child.stdout.take() {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stdout.read_to_string(&mut text);
                let _ = tx.send(text);
            });
        }
        rx
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    fn wait_within(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, Stop> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            pause(Duration::from_millis(50))?;
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.exited().is_none() {
            if let Err(error) = self.child.kill() {
                eprintln!("loadbench: could not kill the {} (pid {}): {error}", self.name, self.pid());
            }
        }
        // SIGKILL cannot be ignored, so this returns promptly.
        let _ = self.child.wait();
    }
}

/// A command for a benchmarked child: pinned to the `cpus` list through taskset (which execs it, so the pid is the
/// child's own), in a process group of its own, and killed if this process dies.
fn child_command(program: &Path, cpus: Option<String>) -> Command {
    let mut command = match cpus {
        Some(cpus) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpus).arg(program);
            command
        }
        None => Command::new(program),
    };
    // NO_COLOR keeps escape codes out of the log files.
    command.stdin(Stdio::null()).env("NO_COLOR", "1").process_group(0);
    sys::die_with_parent(&mut command);
    command
}

fn log_file(path: &Path) -> Result<std::fs::File, Stop> {
    std::fs::File::create(path).map_err(|error| Stop::Failed(format!("cannot create {}: {error}", path.display())))
}

/// The last lines of a child's log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    let tail: String = tail.chars().take(300).collect();
    if tail.is_empty() {
        format!("nothing in {}", path.display())
    } else {
        format!("{tail} (see {})", path.display())
    }
}

/// Runs a short command and returns its stdout, or `None` if it fails or takes longer than `timeout`.
fn output_within(command: &mut Command, timeout: Duration) -> Option<String> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = ChildGuard { child: command.spawn().ok()?, name: "helper" };
    let stdout = child.read_stdout().recv_timeout(timeout).ok()?;
    child.wait_within(Duration::from_secs(1)).ok()?.filter(ExitStatus::success)?;
    Some(stdout)
}

/// One `GET /healthz` over a fresh connection, every step under a timeout.
fn healthz(addr: SocketAddr) -> Result<Health, String> {
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
    serde_json::from_str(body).map_err(|error| format!("/healthz: {error}"))
}

/// `/healthz` at a sample point, where one slow answer under load should not cost the row.
fn healthz_retrying(addr: SocketAddr) -> Result<Health, Stop> {
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

/// utime and stime of a process (all its threads), from `/proc/PID/stat`.
fn proc_cpu(pid: u32) -> Result<CpuTicks, String> {
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
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).map(|field| field.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
    let total: u64 = fields.iter().take(8).sum();
    Some(total - fields.get(3)? - fields.get(4)?)
}

/// Resident memory of a process in KiB, from `VmRSS` in `/proc/PID/status`.
fn proc_rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|error| format!("/proc/{pid}: {error}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// The two libc calls this needs, declared here rather than adding a dependency for them.
mod sys {
    use std::os::raw::c_int;
    use std::process::Command;

    /// Signal numbers are the same on every Linux architecture for these two.
    pub const SIGINT: c_int = 2;
    #[cfg(target_os = "linux")]
    const SIGKILL: std::os::raw::c_ulong = 9;
    #[cfg(target_os = "linux")]
    const PR_SET_PDEATHSIG: c_int = 1;

    unsafe extern "C" {
        fn kill(pid: c_int, signal: c_int) -> c_int;
        #[cfg(target_os = "linux")]
        fn prctl(option: c_int, ...) -> c_int;
    }

    /// Sends `signal` to `pid`; false if it is gone.
    pub fn send_signal(pid: u32, signal: c_int) -> bool {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is a child this process has not reaped yet.
        unsafe { kill(pid as c_int, signal) == 0 }
    }

    /// Has the kernel SIGKILL the child when this process dies, even by SIGKILL, so no server outlives a run.
    pub fn die_with_parent(command: &mut Command) {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the forked child before exec and only makes one async-signal-safe
            // system call. The setting survives exec (taskset's too), and fires when the spawning thread, this
            // process's main thread, exits.
            unsafe {
                command.pre_exec(|| {
                    prctl(PR_SET_PDEATHSIG, SIGKILL);
                    Ok(())
                });
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = command;
    }
}

/// A thread that turns SIGINT and SIGTERM into the `STOP` flag, so the rows end through their guards.
fn watch_signals() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async {
            let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            eprintln!("loadbench: stopping");
            STOP.store(true, Ordering::Relaxed);
        });
    });
}

/// The context printed above the table.
struct Header {
    date: String,
    machine: String,
    commit: String,
    command_line: String,
    elapsed: f64,
}

/// How this run was invoked, as a command to paste.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut line = "cargo run --release --bin loadbench".to_string();
    if !args.is_empty() {
        line.push_str(" --");
        for arg in args {
            line.push(' ');
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$`\\|&;<>()*?".contains(c)) {
                line.push_str(&format!("'{}'", arg.replace('\'', "'\\''")));
            } else {
                line.push_str(&arg);
            }
        }
    }
    line
}

/// "2 x Intel(R) Xeon(R) Processor, 24 GiB RAM, Linux 6.1.0; load average 0.10 at the start".
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo.lines().filter(|line| line.starts_with("processor")).count();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')))
        .map_or("unknown CPU".to_string(), |(_, model)| model.trim().to_string());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(String::new(), |kib| format!(", {:.0} GiB RAM", kib / (1024.0 * 1024.0)));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Anything else busy on the machine (a compiler, say) skews every row: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load =
        load.split_whitespace().next().map_or(String::new(), |load| format!("; load average {load} at the start"));
    format!("{cores} x {model}{memory}, Linux {}{load}", kernel.trim())
}

/// The short commit hash, with "+dirty" when the working tree has changes.
fn commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| output_within(Command::new("git").arg("-C").arg(dir).args(args), Duration::from_secs(10));
    let Some(hash) = git(&["rev-parse", "--short", "HEAD"]) else { return "unknown".into() };
    let dirty = git(&["status", "--porcelain"]).is_none_or(|status| !status.trim().is_empty());
    format!("{}{}", hash.trim(), if dirty { "+dirty" } else { "" })
}

/// The current UTC time as "YYYY-MM-DD HH:MM UTC".
fn utc_now() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let (days, time) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", time / 3600, time % 3600 / 60)
}

/// "1,2,3": a CPU list for taskset and for people.
fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

fn pinning_text(pinning: &Pinning) -> String {
    match pinning {
        Pinning::Pinned { server, bots } => {
            let plural = if bots.len() > 1 { "s" } else { "" };
            format!("server pinned to CPU {server}, bots to CPU{plural} {} (taskset)", cpu_list(bots))
        }
        Pinning::Unpinned(why) => format!("unpinned ({why})"),
    }
}

/// One line per row on stderr while the run goes on.
fn summary(m: &Measurement) -> String {
    format!(
        "server {:.0}% CPU, tick p99 {} ms, {:.0} B/player/s, bots {}",
        m.server_user_percent + m.server_system_percent,
        millis(m.tick_us.1),
        m.bytes_per_player_s,
        m.bots.as_ref().map_or("without a report".to_string(), |bots| format!(
            "inter-arrival p99 {:.1} ms, ack p99 {:.1} ms, {} desyncs",
            bots.interarrival_ms_p99, bots.ack_latency_ms_p99, bots.desyncs
        )),
    )
}

/// Microseconds as milliseconds with sensible precision.
fn millis(micros: f64) -> String {
    let ms = micros / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

/// Text for a table cell: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn arena_text(plan: &Plan) -> String {
    if !plan.scaled_arena {
        return "every row in the bundled 2400 x 1600 arena".into();
    }
    let sizes: Vec<String> = plan
        .rows
        .iter()
        .filter_map(|&players| plan.arena(players).map(|(w, h)| format!("{w} x {h} for {players}")))
        .collect();
    format!(
        "a generated arena grown with the room to the bundled arena's density of 50 players per 2400 x 1600 \
         (`--map-size`: {})",
        sizes.join(", ")
    )
}

/// The markdown between the markers: context, the table and what its columns mean.
fn render(plan: &Plan, rows: &[Row], header: &Header) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "_Written by the loadbench; edits between the markers are lost on the next run._\n");
    let _ = writeln!(out, "- **Date:** {}", header.date);
    let _ = writeln!(out, "- **Machine:** {}", header.machine);
    let _ = writeln!(out, "- **Commit:** `{}`", header.commit);
    let _ = writeln!(out, "- **Command:** `{}` ({:.0} s)", header.command_line, header.elapsed);
    let _ = writeln!(out, "- **Pinning:** {}", pinning_text(&plan.pinning));
    let _ = writeln!(
        out,
        "- **Each row:** a fresh server (tick rate 30, {}), {} joining at {} per second, {} s of warm-up once \
         all have joined, then a measured window of {} s.",
        arena_text(plan),
        if plan.players_only { "bots that move and aim but never fire (players only)" } else { "bots that play" },
        plan.ramp,
        plan.warmup,
        plan.window
    );
    let interest = if plan.view_radius_flag {
        format!("on = `--view-radius {}`, off = `--view-radius 0` (everyone sees everyone)", plan.view_radius)
    } else {
        "off = everyone sees everyone; on = not available in this build (the server has no `--view-radius`)".into()
    };
    let _ = writeln!(out, "- **Interest management:** {interest}\n");

    let _ = writeln!(
        out,
        "| players | interest | server CPU % (user + sys) | RSS MiB | tick p50 / p99 / max ms | overruns | \
         ticks/s | out B/player/s | frames dropped | bots inter-arrival p99 ms | bots ack p99 ms | desyncs | \
         bots CPU % window / run | notes |"
    );
    let _ = writeln!(out, "|{}", " --- |".repeat(14));
    for row in rows {
        let first = format!("| {} | {} |", row.players, row.mode.name());
        match &row.outcome {
            Outcome::NotAvailable => {
                let _ = writeln!(out, "{first}{} not available in this build |", " — |".repeat(11));
            }
            Outcome::Failed(message) => {
                let _ = writeln!(out, "{first}{} failed: {} |", " — |".repeat(11), cell(message));
            }
            Outcome::Measured(m) => {
                let _ = writeln!(out, "{first} {} |", measured_cells(row.players, plan.bots_cores(), m).join(" | "));
            }
        }
    }
    let _ = writeln!(
        out,
        "\nServer figures are over the measured window: CPU from `/proc/PID/stat` (100% = one core), RSS \
         (`VmRSS`) at its end, overruns, ticks, bytes and dropped frames as `/healthz` deltas. Bytes are the \
         snapshot payloads the room queued, without WebSocket or TCP framing, divided by the players in the room \
         and the window's seconds. The tick percentiles and maximum are `/healthz`'s, cumulative since the \
         server started, so they include the ramp-up and the warm-up. The bots' inter-arrival, acknowledgement \
         latency and desyncs come from their `--json` report and cover their whole run, ramp-up included; their \
         CPU is shown over the window (from `/proc`) and over their whole run (from their report). A bots \
         process above {SATURATED_PERCENT:.0}% of its cores is flagged: its latencies then measure the bots more \
         than the server. Logs of each row's server and bots are in `{}`.",
        plan.log_dir.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&plan.log_dir).display()
    );
    out
}

/// Whether a row measured the server under its full load: every bot joined and the bots kept up.
fn trustworthy(target: usize, bots_cores: usize, m: &Measurement) -> bool {
    m.all_joined(target) && !m.bots_saturated(bots_cores)
}

impl Measurement {
    /// Whether the room held all `target` players at both ends of the window.
    fn all_joined(&self, target: usize) -> bool {
        self.players.0.min(self.players.1) >= target as u64
    }

    /// The bots' CPU over the window (from /proc) and over their whole run (from their report).
    fn bots_cpu(&self) -> (Option<f64>, Option<f64>) {
        (self.bots_window_cpu_percent, self.bots.as_ref().map(|bots| bots.cpu_percent))
    }

    /// Whether the bots process saturated its cores in the window or over its run.
    fn bots_saturated(&self, bots_cores: usize) -> bool {
        let (window, run) = self.bots_cpu();
        window.into_iter().chain(run).any(|cpu| saturated_bots(cpu, bots_cores))
    }
}

/// Whether `cpu` (% of one core) is a saturated bots process on `bots_cores` cores.
fn saturated_bots(cpu: f64, bots_cores: usize) -> bool {
    cpu > SATURATED_PERCENT * bots_cores as f64
}

/// The cells after "players | interest" of a measured row.
fn measured_cells(target: usize, bots_cores: usize, m: &Measurement) -> Vec<String> {
    let mut notes = m.notes.clone();
    let server_cpu = m.server_user_percent + m.server_system_percent;
    if server_cpu > SATURATED_PERCENT {
        notes.push(format!("server saturated ({server_cpu:.0}% of a core)"));
    }
    if !m.all_joined(target) {
        let (start, end) = m.players;
        notes.push(format!("{start} players at the window's start, {end} at its end"));
    }
    if (m.frames_per_player_s - m.ticks_per_s).abs() > 0.05 * m.ticks_per_s {
        notes.push(format!("{:.1} frames per player per second", m.frames_per_player_s));
    }
    if let Some(other) = m.other_cpu_percent.filter(|other| *other > OTHER_LOAD_PERCENT) {
        notes.push(format!("machine busy: other processes used {other:.0}% of a core"));
    }
    // The window's figure says whether the steady state is trustworthy; the whole run's (the bots' report)
    // covers the ramp-up too, where a saturated bots process makes the server drop the bots it starves.
    let show = |cpu: Option<f64>| match cpu {
        Some(cpu) if saturated_bots(cpu, bots_cores) => format!("**{cpu:.0}** ⚠"),
        Some(cpu) => format!("{cpu:.0}"),
        None => "—".into(),
    };
    let (window_cpu, run_cpu) = m.bots_cpu();
    if m.bots_saturated(bots_cores) {
        notes.push("bots saturated: their latencies measure the bots".into());
    }
    let bots_cpu_cell = format!("{} / {}", show(window_cpu), show(run_cpu));
    let (interarrival, ack, desyncs) = match &m.bots {
        Some(bots) => {
            if bots.failed + bots.disconnected > 0 {
                let reasons: Vec<String> =
                    bots.close_reasons.iter().take(2).map(|(reason, count)| format!("{count} x {reason}")).collect();
                notes.push(format!(
                    "bots: {} connected, {} failed, {} disconnected ({})",
                    bots.connected,
                    bots.failed,
                    bots.disconnected,
                    reasons.join("; ")
                ));
            }
            if bots.snapshots_per_bot_s < 0.9 * m.ticks_per_s {
                notes.push(format!(
                    "bots got {:.1} snapshots/s over their {:.0} s",
                    bots.snapshots_per_bot_s, bots.duration_s
                ));
            }
            (
                format!("{:.1}", bots.interarrival_ms_p99),
                format!("{:.1}", bots.ack_latency_ms_p99),
                bots.desyncs.to_string(),
            )
        }
        None => ("—".into(), "—".into(), "—".into()),
    };
    vec![
        format!("{server_cpu:.0} ({:.0} + {:.0})", m.server_user_percent, m.server_system_percent),
        format!("{:.0}", m.server_rss_kib as f64 / 1024.0),
        format!("{} / {} / {}", millis(m.tick_us.0), millis(m.tick_us.1), millis(m.tick_us.2)),
        m.overruns.to_string(),
        format!("{:.1}", m.ticks_per_s),
        format!("{:.0}", m.bytes_per_player_s),
        m.frames_dropped.to_string(),
        interarrival,
        ack,
        desyncs,
        bots_cpu_cell,
        if notes.is_empty() { String::new() } else { cell(&notes.join("; ")) },
    ]
}

/// Replaces the text between the markers of `path`, creating the file from a skeleton if it does not exist.
fn update_document(path: &Path, section: &str) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => skeleton(),
        Err(error) => return Err(error.to_string()),
    };
    let span = text.find(BEGIN_MARKER).and_then(|begin| {
        let end = begin + text[begin..].find(END_MARKER)?;
        Some((begin, end + END_MARKER.len()))
    });
    let updated = match span {
        Some((begin, end)) => format!("{}{BEGIN_MARKER}\n{section}{END_MARKER}{}", &text[..begin], &text[end..]),
        None => {
            eprintln!("loadbench: no loadbench markers in {}; appending the section", path.display());
            format!("{}\n\n{BEGIN_MARKER}\n{section}{END_MARKER}\n", text.trim_end())
        }
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| error.to_string())?;
    }
    std::fs::write(path, updated).map_err(|error| error.to_string())
}

/// Reference points from the benchmark issue, measured on the same kind of 2-core machine with the same load:
/// (players, % of a core). The floor is a minimal Rust broadcaster with no game; the framework a popular Node.js
/// game server framework, everyone seeing everyone.
const FLOOR_CPU: [(usize, f64); 2] = [(500, 18.0), (1000, 31.5)];
const FRAMEWORK_CPU: [(usize, f64); 2] = [(500, 30.0), (1000, 58.0)];

/// A grouped bar chart of the server's CPU per room size (interest off and on, user and system stacked), beside
/// the floor and the framework where the issue gives them, as a self-contained SVG.
fn chart_svg(rows: &[Row], header: &[String; 2], bots_cores: usize) -> String {
    const WIDTH: f64 = 760.0;
    const HEIGHT: f64 = 380.0;
    const LEFT: f64 = 56.0;
    const TOP: f64 = 64.0;
    const BOTTOM: f64 = 64.0;
    const BAR: f64 = 40.0;
    let mut sizes: Vec<usize> = rows.iter().map(|row| row.players).collect();
    sizes.dedup();
    // Each group: our rows (stacked user + sys), then the references present for that size.
    struct Bar {
        label: &'static str,
        parts: Vec<(f64, &'static str)>,
        /// False when the bots could not keep up or not all of them joined: drawn faded, marked with an asterisk.
        valid: bool,
    }
    let groups: Vec<(usize, Vec<Bar>)> = sizes
        .iter()
        .map(|&players| {
            let mut bars = Vec::new();
            for row in rows.iter().filter(|row| row.players == players) {
                let label = match row.mode {
                    Mode::Off => "off",
                    Mode::On => "on",
                };
                let (parts, valid) = match &row.outcome {
                    Outcome::Measured(m) => {
                        let (user, sys) = (m.server_user_percent, m.server_system_percent);
                        let color = if row.mode == Mode::On { ("#1f6feb", "#8cb8f5") } else { ("#2da44e", "#96d7a6") };
                        (vec![(user, color.0), (sys, color.1)], trustworthy(players, bots_cores, m))
                    }
                    _ => (Vec::new(), true),
                };
                bars.push(Bar { label, parts, valid });
            }
            for (label, reference, color) in [("floor", &FLOOR_CPU, "#8c959f"), ("node", &FRAMEWORK_CPU, "#cf222e")] {
                if let Some((_, cpu)) = reference.iter().find(|(size, _)| *size == players) {
                    bars.push(Bar { label, parts: vec![(*cpu, color)], valid: true });
                }
            }
            (players, bars)
        })
        .collect();
    let peak = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|bar| bar.parts.iter().map(|(v, _)| v).sum::<f64>()))
        .fold(10.0f64, f64::max);
    let scale_max = (peak / 10.0).ceil() * 10.0;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let y = |value: f64| TOP + plot_height * (1.0 - value / scale_max);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">Server CPU under load (% of one core; dark = user, light = system)</text>"##
    );
    for (line, text) in header.iter().enumerate() {
        let y = 36.0 + 14.0 * line as f64;
        let _ = writeln!(svg, r##"<text x="{LEFT}" y="{y}" fill="#57606a">{}</text>"##, xml_escape(text));
    }
    for step in 0..=5 {
        let value = scale_max * f64::from(step) / 5.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d7de"/><text x="{}" y="{:.1}" text-anchor="end">{value:.0}%</text>"##,
            WIDTH - 10.0,
            LEFT - 6.0,
            y(value) + 4.0,
            y = y(value)
        );
    }
    let group_width = (WIDTH - LEFT - 10.0) / groups.len().max(1) as f64;
    for (index, (players, bars)) in groups.iter().enumerate() {
        let start = LEFT + group_width * index as f64 + (group_width - BAR * bars.len() as f64) / 2.0;
        for (k, bar) in bars.iter().enumerate() {
            let x = start + BAR * k as f64;
            let mut base = 0.0;
            let opacity = if bar.valid { 1.0 } else { 0.35 };
            for (value, color) in &bar.parts {
                let _ = writeln!(
                    svg,
                    r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}" opacity="{opacity}"/>"##,
                    x + 2.0,
                    y(base + value),
                    BAR - 4.0,
                    y(base) - y(base + value)
                );
                base += value;
            }
            let total = match (bar.parts.is_empty(), bar.valid) {
                (true, _) => "n/a".to_string(),
                (false, true) => format!("{base:.0}"),
                (false, false) => format!("{base:.0}*"),
            };
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{total}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#57606a">{}</text>"##,
                x + BAR / 2.0,
                y(base) - 4.0,
                x + BAR / 2.0,
                HEIGHT - BOTTOM + 16.0,
                bar.label
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{players} players</text>"##,
            LEFT + group_width * (index as f64 + 0.5),
            HEIGHT - BOTTOM + 36.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="{}" fill="#57606a">off / on: interest management; floor, node: the issue's reference figures; * bots could not keep up: not valid</text>"##,
        HEIGHT - 8.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A new BENCHMARKS.md: intro, how to run, the markers, and the lead's section.
fn skeleton() -> String {
    format!(
        "# Benchmarks\n\nLoad measurements of the server with real bots over loopback WebSockets.\n\n\
         ## How to run\n\n```sh\ncargo run --release --bin loadbench            # full run, rewrites this table\n\
         cargo run --release --bin loadbench -- --quick # smoke run, prints only\n```\n\n## Results\n\n\
         {BEGIN_MARKER}\n{END_MARKER}\n\n## Targets and where we stand\n\n\
         <!-- TODO(lead): targets per room size and how the numbers above compare. -->\n"
    )
}
