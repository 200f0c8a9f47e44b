//! The load benchmark: runs the release server and the bots at several room sizes, in one room and spread over many
//! rooms of one process, with interest management off and on, measures a steady-state window of each, and rewrites
//! the table between the loadbench markers of `docs/BENCHMARKS.md` (the hand-written text around them survives).
//!
//! Each row gets a fresh server, so its cumulative tick percentiles cover that row only, and a separate bots process,
//! each pinned to a core of its own where the machine allows, so the server's CPU is measured alone and the bots
//! cannot steal its core. A row: start the server on a free loopback port, start the bots (quick play for one room;
//! `bots --rooms N` for many, each room created by its first bot), wait for them to join (ramp-up), warm up, sample
//! the server's `/proc` and `/healthz`, wait the window, sample again, stop the bots with SIGINT (they then print
//! their JSON report), kill the server. Server figures are deltas over the window; the bots' latencies come from
//! their report and cover their whole run.
//!
//! Linux only (`/proc`, `taskset`, `prctl`). Children run in a process group of their own, so a Ctrl-C in the
//! terminal reaches only this process, which then stops them itself; a guard kills them on every way out of a row,
//! and `PR_SET_PDEATHSIG` takes them down even if this process is killed outright.
//!
//! The parts: `plan` (flags to rows, binaries, pinning), `processes` (children, their logs, signals), `sampling`
//! (`/healthz` and `/proc`), `row` (one row end to end), `report` (the markdown) and `chart` (the SVG).

mod chart;
mod cluster;
mod floor;
mod plan;
mod processes;
mod report;
mod row;
mod sampling;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};

use plan::{Mode, RowSpec};
use row::{Outcome, Row};

/// Measures the server under load: for each row a fresh release server and a separate bots process, a ramp-up, a
/// warm-up and a measured steady-state window, with interest management off and on. Writes the results between the
/// loadbench markers of docs/BENCHMARKS.md. Needs `cargo build --release --bins` (cargo run does it).
///
/// A row is either one room (a plain number of players: the bots quick-play, which keeps them all in one room) or
/// many rooms in the one process, written ROOMSxPLAYERS: ROOMS rooms of PLAYERS bots each, created by the bots
/// (`bots --rooms ROOMS`), the server started with `--max-rooms ROOMS`. `--rows 1000,10x100,200x5` measures 1,000
/// players in one room, 1,000 players over 10 rooms of 100, and 200 rooms of 5 players.
#[derive(Debug, Parser)]
#[command(name = "loadbench")]
struct Args {
    /// Rows, comma-separated: PLAYERS for one room, ROOMSxPLAYERS for ROOMS rooms of PLAYERS each
    /// [default: 100,500,1000,10x100,200x5; with --quick: 50,100,4x25,20x5].
    #[arg(long, value_delimiter = ',', value_parser = plan::parse_row)]
    rows: Option<Vec<RowSpec>>,
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
    /// Short smoke run: rows 50,100,4x25,20x5, 2 s warm-up, 5 s windows, no file written unless --out is given.
    #[arg(long)]
    quick: bool,
    /// Do not pin the server and the bots to cores of their own.
    #[arg(long)]
    no_pin: bool,
    /// Crowd every room into the bundled 2400x1600 arena (made for about 50 players) instead of an arena grown with
    /// the room to keep its density (the tick benchmark's rule).
    #[arg(long)]
    bundled_arena: bool,
    /// Bots that move and aim but never fire (`bots --hold-fire`): the players-only load of the reference figures.
    #[arg(long)]
    players_only: bool,
    /// Load mode (`bots --decode-every N`): 1 bot in N decodes and plays, the others read snapshot heads only and
    /// walk a circle, so one bots process keeps up with 1,000 players in view. Marked in the table.
    #[arg(long, default_value_t = 1, value_name = "N")]
    decode_every: usize,
    /// Every room on a generated arena of WIDTHxHEIGHT (`--map-size`) instead of one grown with its players.
    #[arg(long, value_name = "WxH", conflicts_with = "bundled_arena")]
    map_size: Option<String>,
    /// The floor script to measure before each row (`run.sh ENTITIES CLIENTS`) [default: ../shared/floor/run.sh
    /// beside this crate, when it exists]. Each row's CPU is also given as a ratio to it.
    #[arg(long, value_name = "PATH")]
    floor: Option<PathBuf>,
    /// Skip the floor measurements.
    #[arg(long, conflicts_with = "floor")]
    no_floor: bool,
    /// Entities per floor frame for the interest "on" rows (the "off" rows use 0: every client sees every client).
    #[arg(long, default_value_t = 12)]
    floor_entities: usize,
    /// Instead of the rows: N server processes sharing one redis-server's room directory (`--redis`), the bots
    /// spread over their front doors; prints each process's CPU and players and Redis's commands per second and
    /// CPU (needs redis-server).
    #[arg(long, value_name = "N")]
    cluster: Option<usize>,
    /// Bots of the cluster run, in all.
    #[arg(long, default_value_t = 1500, requires = "cluster")]
    cluster_bots: usize,
    /// Players per room in the cluster run (quick play fills a room, then opens the next on the least-loaded
    /// process).
    #[arg(long, default_value_t = 100, requires = "cluster")]
    cluster_room_players: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Interest {
    Both,
    On,
    Off,
}

/// Why a row (or the whole run) stopped early.
#[derive(Debug)]
pub enum Stop {
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

fn main() -> ExitCode {
    let args = Args::parse();
    processes::watch_signals();
    let started = Instant::now();
    let command_line = report::command_line();
    let plan = match plan::plan(&args) {
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
    if let Some(processes) = args.cluster {
        eprintln!("loadbench: cluster of {processes} processes, {} bots ...", args.cluster_bots);
        return match cluster::run(&plan, processes.max(1), args.cluster_bots, args.cluster_room_players) {
            Ok(table) => {
                println!("{}, commit {}\n{}\n\n{table}", report::utc_now(), report::commit(), report::machine());
                ExitCode::SUCCESS
            }
            Err(Stop::Failed(message)) => {
                eprintln!("loadbench: cluster run failed: {message}");
                ExitCode::FAILURE
            }
            Err(Stop::Interrupted) => ExitCode::from(130),
        };
    }
    // Read before anything is written, so the commit describes the code that was measured.
    let machine = report::machine();
    let commit = report::commit();
    let date = report::utc_now();
    eprintln!(
        "loadbench: rows {}, interest {:?}, ramp {} bots/s, warm-up {} s, window {} s, {}",
        plan.rows.iter().map(RowSpec::label).collect::<Vec<_>>().join(","),
        plan.modes.iter().map(|mode| mode.name()).collect::<Vec<_>>(),
        plan.ramp,
        plan.warmup,
        plan.window,
        plan::pinning_text(&plan.pinning),
    );
    if !plan.view_radius_flag && plan.modes.contains(&Mode::On) {
        eprintln!("loadbench: this server build has no --view-radius: the \"on\" rows are not available");
    }
    if !plan.max_rooms_flag && plan.rows.iter().any(|spec| spec.rooms.is_some()) {
        eprintln!(
            "loadbench: this server build has no --max-rooms (one room per process): multi-room rows are not available"
        );
    }

    let mut rows = Vec::new();
    for &spec in &plan.rows {
        for &mode in &plan.modes {
            let unavailable =
                (mode == Mode::On && !plan.view_radius_flag) || (spec.rooms.is_some() && !plan.max_rooms_flag);
            if unavailable {
                rows.push(Row { spec, mode, outcome: Outcome::NotAvailable });
                continue;
            }
            let floor = plan.floor.as_ref().map(|script| {
                let entities = if mode == Mode::On { plan.floor_entities } else { 0 };
                eprintln!("loadbench: floor, {} clients, {entities} entities per frame ...", spec.total());
                let reading = floor::measure(script, entities, spec.total(), 18800);
                match &reading {
                    Ok(reading) => eprintln!("loadbench:   floor {:.1}% CPU", reading.cpu_percent),
                    Err(message) => eprintln!("loadbench:   floor failed: {message}"),
                }
                reading
            });
            eprintln!("loadbench: {}, interest {} ...", spec.describe(), mode.name());
            let outcome = match row::run_row(&plan, spec, mode) {
                Ok(mut measurement) => {
                    match floor {
                        Some(Ok(reading)) => measurement.floor = Some(reading),
                        Some(Err(message)) => measurement.notes.push(format!("floor failed: {message}")),
                        None => {}
                    }
                    eprintln!("loadbench:   {}", report::summary(&measurement));
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
            rows.push(Row { spec, mode, outcome });
        }
    }

    let elapsed = started.elapsed().as_secs_f64();
    let header_line = [format!("{date}, commit {commit}"), machine.clone()];
    let section = report::render(&plan, &rows, &report::Header { date, machine, commit, command_line, elapsed });
    println!("{section}");
    if let Some(out) = out {
        let chart = out.with_extension("svg");
        let written = report::update_document(&out, &section).and_then(|()| {
            std::fs::write(&chart, chart::chart_svg(&rows, &header_line, plan.bots_cores())).map_err(|e| e.to_string())
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
