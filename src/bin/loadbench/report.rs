//! The markdown the run writes between the loadbench markers: the context, the table and what its columns mean;
//! the one-line summaries printed while it runs; and the document update itself.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::plan::{pinning_text, Plan, RowSpec};
use crate::processes::output_within;
use crate::row::{Measurement, Outcome, Row};

/// The loadbench's section of the markdown file lies between these two lines.
const BEGIN_MARKER: &str = "<!-- loadbench:begin -->";
const END_MARKER: &str = "<!-- loadbench:end -->";

/// A process above this share of its core is saturated: if it is the bots, their latencies measure the bots.
const SATURATED_PERCENT: f64 = 90.0;

/// Other processes using more than this share of a core during a window skew it: the row says so.
const OTHER_LOAD_PERCENT: f64 = 10.0;

/// The context printed above the table.
pub struct Header {
    pub date: String,
    pub machine: String,
    pub commit: String,
    pub command_line: String,
    pub elapsed: f64,
}

/// How this run was invoked, as a command to paste.
pub fn command_line() -> String {
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
pub fn machine() -> String {
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
pub fn commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| output_within(Command::new("git").arg("-C").arg(dir).args(args), Duration::from_secs(10));
    let Some(hash) = git(&["rev-parse", "--short", "HEAD"]) else { return "unknown".into() };
    let dirty = git(&["status", "--porcelain"]).is_none_or(|status| !status.trim().is_empty());
    format!("{}{}", hash.trim(), if dirty { "+dirty" } else { "" })
}

/// The current UTC time as "YYYY-MM-DD HH:MM UTC" (from the lobby's RFC 3339 timestamps).
pub fn utc_now() -> String {
    let stamp = skirmish::lobby::rfc3339(SystemTime::now());
    format!("{} {} UTC", &stamp[..10], &stamp[11..16])
}

/// One line per row on stderr while the run goes on.
pub fn summary(m: &Measurement) -> String {
    format!(
        "server {:.0}% CPU{}, {} threads, {:.0} MiB, {} rooms, tick p99 {} ms (worst room {} ms), {:.0} B/player/s, bots {}",
        m.server_user_percent + m.server_system_percent,
        m.floor.as_ref().map_or(String::new(), |floor| format!(
            " ({:.2} x the floor's {:.1}%)",
            (m.server_user_percent + m.server_system_percent) / floor.cpu_percent.max(0.01),
            floor.cpu_percent
        )),
        m.server_threads,
        m.server_rss_kib as f64 / 1024.0,
        m.rooms.1,
        millis(m.tick_us.1),
        millis(m.worst_tick_p99_us),
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

/// The rooms cell: "1" (the bots quick-play into one room) or "10 x 100".
fn rooms_cell(spec: &RowSpec) -> String {
    match spec.rooms {
        None => "1".into(),
        Some(rooms) => format!("{rooms} x {}", spec.players),
    }
}

fn arena_text(plan: &Plan) -> String {
    if !plan.scaled_arena {
        return "every room in the bundled 2400 x 1600 arena".into();
    }
    let mut sizes: Vec<usize> = plan.rows.iter().map(|spec| spec.players).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    let sizes: Vec<String> = sizes
        .iter()
        .filter_map(|&players| plan.arena(players).map(|(w, h)| format!("{w} x {h} for {players}")))
        .collect();
    format!(
        "each room a generated arena grown with it to the bundled arena's density of 50 players per 2400 x 1600 \
         (`--map-size`: {})",
        sizes.join(", ")
    )
}

/// The markdown between the markers: context, the table and what its columns mean.
pub fn render(plan: &Plan, rows: &[Row], header: &Header) -> String {
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
    let _ = writeln!(
        out,
        "- **Rooms:** rooms 1: the bots quick-play, which keeps them all in one room; R x P: R rooms of P players in \
         the one server process, each created by its first bot (`bots --rooms R`, the others join by id), the \
         server started with `--max-rooms R`."
    );
    let interest = if plan.view_radius_flag {
        format!("on = `--view-radius {}`, off = `--view-radius 0` (everyone sees everyone)", plan.view_radius)
    } else {
        "off = everyone sees everyone; on = not available in this build (the server has no `--view-radius`)".into()
    };
    let _ = writeln!(out, "- **Interest management:** {interest}\n");

    let _ = writeln!(
        out,
        "| players | rooms | interest | server CPU % (user + sys) | floor CPU % | x floor | threads | RSS MiB | tick p50 / p99 / max ms | \
         worst room tick p99 ms | overruns | ticks/s | out B/player/s | frames dropped | bots inter-arrival p99 ms | \
         bots ack p99 ms | desyncs | bots CPU % window / run | notes |"
    );
    let _ = writeln!(out, "|{}", " --- |".repeat(19));
    for row in rows {
        let first = format!("| {} | {} | {} |", row.spec.total(), rooms_cell(&row.spec), row.mode.name());
        match &row.outcome {
            Outcome::NotAvailable => {
                let _ = writeln!(out, "{first}{} not available in this build |", " — |".repeat(15));
            }
            Outcome::Failed(message) => {
                let _ = writeln!(out, "{first}{} failed: {} |", " — |".repeat(15), cell(message));
            }
            Outcome::Measured(m) => {
                let _ = writeln!(out, "{first} {} |", measured_cells(&row.spec, plan.bots_cores(), m).join(" | "));
            }
        }
    }
    let _ = writeln!(
        out,
        "\nServer figures are over the measured window: CPU from `/proc/PID/stat` (100% = one core), threads \
         (`Threads`) and RSS (`VmRSS`) from `/proc/PID/status` at its end, overruns, ticks, bytes and dropped \
         frames as `/healthz` deltas. Bytes are the snapshot payloads the rooms queued, without WebSocket or TCP \
         framing, divided by the players in the server and the window's seconds; ticks/s is one room's, the mean \
         over the rooms. The tick percentiles and maximum are `/healthz`'s per room, cumulative since the room was \
         created, so they include the ramp-up and the warm-up: \"tick p50 / p99 / max\" is the median room's (by \
         p99; with one room, that room), \"worst room tick p99\" the slowest room's p99 (`worst_tick_micros_p99`). \
         The bots' inter-arrival, acknowledgement latency and desyncs come from their `--json` report and cover \
         their whole run, ramp-up included; their CPU is shown over the window (from `/proc`) and over their whole \
         run (from their report). A bots process above {SATURATED_PERCENT:.0}% of its cores is flagged: its \
         latencies then measure the bots more than the server. The floor is `../shared/floor/run.sh E N` (a minimal \
         broadcaster on the same crates, no game: one frame per client per tick, 30 inputs/s per client; E = 0, \
         every client sees every client, for the \"off\" rows, E = {} entities, about 160 B frames, for the \"on\" \
         rows), run right before the row with the same N; \"x floor\" is the row's server CPU over the floor's. \
         Logs of each row's server and bots are in `{}`.",
        plan.floor_entities,
        plan.log_dir.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&plan.log_dir).display()
    );
    out
}

/// Whether a row measured the server under its full load: every bot joined and the bots kept up.
pub fn trustworthy(target: usize, bots_cores: usize, m: &Measurement) -> bool {
    m.all_joined(target) && !m.bots_saturated(bots_cores)
}

impl Measurement {
    /// Whether the server held all `target` players at both ends of the window.
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

/// The cells after "players | rooms | interest" of a measured row.
fn measured_cells(spec: &RowSpec, bots_cores: usize, m: &Measurement) -> Vec<String> {
    let target = spec.total();
    let mut notes = m.notes.clone();
    let server_cpu = m.server_user_percent + m.server_system_percent;
    if server_cpu > SATURATED_PERCENT {
        notes.push(format!("server saturated ({server_cpu:.0}% of a core)"));
    }
    if !m.all_joined(target) {
        let (start, end) = m.players;
        notes.push(format!("{start} players at the window's start, {end} at its end"));
    }
    let rooms = spec.room_count();
    if m.rooms != (rooms, rooms) {
        let (start, end) = m.rooms;
        let expected =
            if spec.rooms.is_none() { "1 (quick play should keep one room)".to_string() } else { rooms.to_string() };
        notes.push(format!("{start} rooms open at the window's start, {end} at its end, not {expected}"));
    } else if spec.rooms.is_some() && m.room_players != (spec.players as u64, spec.players as u64) {
        notes.push(format!(
            "rooms held {} to {} players, not {} each",
            m.room_players.0, m.room_players.1, spec.players
        ));
    }
    if rooms > 1 && m.slowest_ticks_per_s < 0.95 * m.ticks_per_s {
        notes.push(format!("slowest room {:.1} ticks/s", m.slowest_ticks_per_s));
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
            if bots.light_bots > 0 {
                notes.push(format!(
                    "load mode: {} of {} bots read snapshot heads only (the rest decoded)",
                    bots.light_bots, bots.connected
                ));
            }
            if bots.in_view_mean > 0.0 {
                notes.push(format!("{:.0} entities in view", bots.in_view_mean));
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
        m.floor.as_ref().map_or("—".into(), |floor| {
            format!(
                "{:.1} (E {}, user {:.1}, {} MiB)",
                floor.cpu_percent, floor.entities, floor.user_percent, floor.rss_mib
            )
        }),
        m.floor.as_ref().map_or("—".into(), |floor| format!("{:.2}", server_cpu / floor.cpu_percent.max(0.01))),
        m.server_threads.to_string(),
        format!("{:.0}", m.server_rss_kib as f64 / 1024.0),
        format!("{} / {} / {}", millis(m.tick_us.0), millis(m.tick_us.1), millis(m.tick_us.2)),
        millis(m.worst_tick_p99_us),
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
pub fn update_document(path: &Path, section: &str) -> Result<(), String> {
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
