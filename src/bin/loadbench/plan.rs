//! What a run does: its rows (one room or many), the interest modes, the timings, the binaries, and where the
//! server and the bots run (pinning).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::processes::output_within;
use crate::{Args, Interest};

/// One row's load: `players` bots in one room, or in each of `rooms` rooms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowSpec {
    /// Rooms the bots create (`bots --rooms`); `None`: one room, which the bots quick-play into.
    pub rooms: Option<usize>,
    /// Players per room.
    pub players: usize,
}

impl RowSpec {
    pub fn room_count(&self) -> usize {
        self.rooms.unwrap_or(1)
    }

    /// Players in the whole server.
    pub fn total(&self) -> usize {
        self.room_count() * self.players
    }

    /// As `--rows` writes it: "1000", "10x100".
    pub fn label(&self) -> String {
        match self.rooms {
            None => self.players.to_string(),
            Some(rooms) => format!("{rooms}x{}", self.players),
        }
    }

    /// For people: "1000 players in one room", "1000 players in 10 rooms of 100".
    pub fn describe(&self) -> String {
        match self.rooms {
            None => format!("{} players in one room", self.players),
            Some(rooms) => format!("{} players in {rooms} rooms of {}", self.total(), self.players),
        }
    }
}

/// Parses one `--rows` entry: `PLAYERS` (one room) or `ROOMSxPLAYERS`.
pub fn parse_row(text: &str) -> Result<RowSpec, String> {
    let number = |part: &str| match part.trim().parse::<usize>() {
        Ok(0) | Err(_) => {
            Err(format!("{text:?} is not a row: use PLAYERS (one room) or ROOMSxPLAYERS, e.g. 1000 or 10x100"))
        }
        Ok(n) => Ok(n),
    };
    match text.split_once(['x', 'X']) {
        None => Ok(RowSpec { rooms: None, players: number(text)? }),
        Some((rooms, players)) => Ok(RowSpec { rooms: Some(number(rooms)?), players: number(players)? }),
    }
}

/// Interest management in one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off,
    On,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::On => "on",
        }
    }
}

/// Where the server and the bots run.
#[derive(Clone, Debug)]
pub enum Pinning {
    /// The server on one CPU, the bots on all the others this process may use.
    Pinned {
        server: usize,
        bots: Vec<usize>,
    },
    Unpinned(String),
}

/// Everything a row needs to know.
pub struct Plan {
    pub rows: Vec<RowSpec>,
    pub modes: Vec<Mode>,
    pub window: f64,
    pub warmup: f64,
    pub ramp: f64,
    pub view_radius: u32,
    /// Whether this build of the server has `--view-radius`.
    pub view_radius_flag: bool,
    /// Whether this build of the server hosts many rooms (`--max-rooms`).
    pub max_rooms_flag: bool,
    /// Whether this build limits the rooms one address creates per minute (`--room-creations-per-minute`): the
    /// bots create every room of a row from one address.
    pub creation_quota_flag: bool,
    pub players_only: bool,
    /// `bots --decode-every`: 1 = every bot plays.
    pub decode_every: usize,
    /// The floor script measured before each row, if any, and its entities per frame for "on" rows.
    pub floor: Option<PathBuf>,
    pub floor_entities: usize,
    /// A fixed arena for every row (`--map-size`), instead of one grown with the players.
    pub map_size: Option<(u32, u32)>,
    /// Each room's arena grows with its players (`--map-size`), unless the bundled arena is asked for or this build
    /// of the server cannot generate maps.
    pub scaled_arena: bool,
    pub pinning: Pinning,
    pub server_bin: PathBuf,
    pub bots_bin: PathBuf,
    /// The children's stderr goes to files here.
    pub log_dir: PathBuf,
}

impl Plan {
    /// The `--map-size` for rooms of `players`: the bundled arena's 2400 x 1600 grown by sqrt(players / 50) per
    /// side (never below the 320 units a generated side needs), or `None` for the bundled arena itself.
    pub fn arena(&self, players: usize) -> Option<(u32, u32)> {
        if self.map_size.is_some() {
            return self.map_size;
        }
        let scale = (players as f64 / 50.0).sqrt();
        let side = |base: f64| ((base * scale).round() as u32).max(320);
        self.scaled_arena.then(|| (side(2400.0), side(1600.0)))
    }

    /// The taskset CPU list of the server, if pinned.
    pub fn server_cpus(&self) -> Option<String> {
        match &self.pinning {
            Pinning::Pinned { server, .. } => Some(server.to_string()),
            Pinning::Unpinned(_) => None,
        }
    }

    /// The taskset CPU list of the bots, if pinned.
    pub fn bots_cpus(&self) -> Option<String> {
        match &self.pinning {
            Pinning::Pinned { bots, .. } => Some(cpu_list(bots)),
            Pinning::Unpinned(_) => None,
        }
    }

    /// Cores the bots may use: what their CPU share is measured against.
    pub fn bots_cores(&self) -> usize {
        match &self.pinning {
            Pinning::Pinned { bots, .. } => bots.len(),
            Pinning::Unpinned(_) => allowed_cpus().len().max(1),
        }
    }
}

/// Resolves the flags, finds the binaries, decides the pinning and probes the server for its flags.
pub fn plan(args: &Args) -> Result<Plan, String> {
    let rows = args.rows.clone().unwrap_or_else(|| {
        let rows: &[&str] =
            if args.quick { &["50", "100", "4x25", "20x5"] } else { &["100", "500", "1000", "10x100", "200x5"] };
        rows.iter().map(|row| parse_row(row).expect("the default rows parse")).collect()
    });
    if rows.is_empty() {
        return Err("--rows needs at least one row".into());
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
        max_rooms_flag: help.contains("--max-rooms"),
        creation_quota_flag: help.contains("--room-creations-per-minute"),
        players_only: args.players_only,
        decode_every: args.decode_every.max(1),
        floor: if args.no_floor { None } else { crate::floor::locate(args.floor.as_deref()) },
        floor_entities: args.floor_entities,
        map_size: match &args.map_size {
            None => None,
            Some(text) => Some(parse_map_size(text)?),
        },
        scaled_arena: !args.bundled_arena && help.contains("--map-size"),
        pinning: pinning(args.no_pin),
        server_bin,
        bots_bin,
        log_dir,
    })
}

/// `WIDTHxHEIGHT`, both at least 320 (what the server generates).
fn parse_map_size(text: &str) -> Result<(u32, u32), String> {
    let (width, height) = text.split_once(['x', 'X']).ok_or_else(|| format!("--map-size {text:?}: use WxH"))?;
    let side = |part: &str| part.trim().parse::<u32>().ok().filter(|side| *side >= 320);
    match (side(width), side(height)) {
        (Some(width), Some(height)) => Ok((width, height)),
        _ => Err(format!("--map-size {text:?}: two whole numbers of at least 320, e.g. 4000x3000")),
    }
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

/// "1,2,3": a CPU list for taskset and for people.
pub fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

pub fn pinning_text(pinning: &Pinning) -> String {
    match pinning {
        Pinning::Pinned { server, bots } => {
            let plural = if bots.len() > 1 { "s" } else { "" };
            format!("server pinned to CPU {server}, bots to CPU{plural} {} (taskset)", cpu_list(bots))
        }
        Pinning::Unpinned(why) => format!("unpinned ({why})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_one_room_or_rooms_of_players() {
        assert_eq!(parse_row("1000"), Ok(RowSpec { rooms: None, players: 1000 }));
        let many = parse_row("10x100").unwrap();
        assert_eq!(many, RowSpec { rooms: Some(10), players: 100 });
        assert_eq!((many.total(), many.room_count(), many.label()), (1000, 10, "10x100".to_string()));
        assert_eq!(parse_row(" 200X5 ").map(|spec| spec.total()), Ok(1000));
        for bad in ["0", "x5", "10x", "10x0", "ten", "-3", "2x3x4"] {
            assert!(parse_row(bad).is_err(), "{bad:?} parsed");
        }
    }
}
