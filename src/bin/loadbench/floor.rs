//! The syscall floor measured in the same run: `../shared/floor/run.sh` (a minimal broadcaster on the same crates,
//! no game) under the same number of clients, right before each row, so every server CPU figure gets a ratio to a
//! reference taken minutes apart on the same machine (CPU figures on a shared machine drift by more than the
//! differences that matter).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::processes::output_within;

/// What one floor run measured.
#[derive(Clone, Debug)]
pub struct FloorReading {
    /// Entities per frame (`0`: every client sees every client; `12`: about 160 B frames).
    pub entities: usize,
    /// The floor server's CPU over its 10 s window, % of one core, and its user part.
    pub cpu_percent: f64,
    pub user_percent: f64,
    pub rss_mib: f64,
}

/// The floor script to use: the one given, else `../shared/floor/run.sh` next to this crate when it exists.
pub fn locate(given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(path) => Some(path.to_path_buf()),
        None => {
            let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/floor/run.sh");
            default.is_file().then_some(default)
        }
    }
}

/// Runs the floor for `clients` clients and `entities` per frame (its script pins its server to CPU 0 and its
/// load client to CPU 1, as the rows pin theirs) and parses its one line.
pub fn measure(script: &Path, entities: usize, clients: usize, port: u16) -> Result<FloorReading, String> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/floor");
    let mut command = Command::new("bash");
    command.arg(script).arg(entities.to_string()).arg(clients.to_string());
    command.env("PORT", port.to_string()).env("CARGO_TARGET_DIR", &target);
    // Its own 40 s run plus, the first time, building it.
    let output = output_within(&mut command, Duration::from_secs(300))
        .ok_or_else(|| format!("{} did not finish within 300 s", script.display()))?;
    let line = output
        .lines()
        .find(|line| line.starts_with("floor "))
        .ok_or_else(|| format!("the floor printed no result: {}", output.trim()))?;
    parse(line, entities)
}

fn parse(line: &str, entities: usize) -> Result<FloorReading, String> {
    let field = |name: &str, unit: &str| -> Result<f64, String> {
        let start = line.find(&format!("{name}=")).ok_or_else(|| format!("no {name} in {line:?}"))? + name.len() + 1;
        let rest = &line[start..];
        let end = rest.find(unit).ok_or_else(|| format!("no {unit} after {name} in {line:?}"))?;
        rest[..end].parse::<f64>().map_err(|error| format!("{name} in {line:?}: {error}"))
    };
    Ok(FloorReading {
        entities,
        cpu_percent: field("server_cpu", "%")?,
        user_percent: field("user", "%")?,
        rss_mib: field("rss", "MiB")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_line_parses() {
        let line = "floor entities=12 clients=1000 server_cpu=21.4% user=6.3% rss=18MiB :: clients=1000 errors=0";
        let reading = parse(line, 12).unwrap();
        assert_eq!((reading.cpu_percent, reading.user_percent, reading.rss_mib), (21.4, 6.3, 18.0));
        assert!(parse("floor entities=12", 12).is_err());
    }
}
