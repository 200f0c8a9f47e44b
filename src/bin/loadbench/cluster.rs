//! The cluster run (`--cluster N`): one `redis-server` and N release server processes sharing its room directory
//! (`--redis`), rooms of `--cluster-room-players`, and one bots process per server's front door that quick-plays
//! through it (quick play then fills rooms across processes and opens new ones on the least-loaded process). After
//! the ramp-up and warm-up it measures a window: each process's CPU and players, Redis's CPU and its commands per
//! second (`INFO stats`, read over a plain socket), and the bots' reports. Prints a markdown table.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::plan::Plan;
use crate::processes::{child_command, listening_address, log_file, pause, sys, ChildGuard};
use crate::row::BotsReport;
use crate::sampling::{healthz, healthz_retrying, proc_cpu};
use crate::Stop;

const USER_HZ: f64 = 100.0;
const SECRET: &str = "loadbench cluster secret, 32 bytes or more";

/// Redis's `total_commands_processed` (`INFO stats`).
fn redis_commands(port: u16) -> Result<u64, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("redis: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    stream.write_all(b"INFO stats\r\n").map_err(|e| format!("redis: {e}"))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    // A bulk string: `$LEN\r\n...\r\n`; read until the counter's line has come.
    while !String::from_utf8_lossy(&reply).contains("total_net_input_bytes") {
        let n = stream.read(&mut buf).map_err(|e| format!("redis: {e}"))?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    text.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| "redis: no total_commands_processed in INFO stats".to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(16379, |a| a.port())
}

/// One run; every child is killed when this returns.
pub fn run(plan: &Plan, processes: usize, bots: usize, room_players: usize) -> Result<String, Stop> {
    let port = free_port();
    let mut redis_command = Command::new("redis-server");
    redis_command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let redis = ChildGuard::spawn("redis", redis_command)
        .map_err(|_| Stop::Failed("cannot start redis-server (Debian: apt-get install redis-server)".into()))?;
    let started = Instant::now();
    while redis_commands(port).is_err() {
        if started.elapsed() > Duration::from_secs(5) {
            return Err(Stop::Failed(format!("redis-server did not answer on {port}")));
        }
        pause(Duration::from_millis(50))?;
    }

    let mut servers = Vec::new();
    for i in 0..processes {
        let log = plan.log_dir.join(format!("cluster-server-{i}.log"));
        let mut command = child_command(&plan.server_bin, None);
        command.args(["--addr", "127.0.0.1:0", "--redis", &format!("redis://127.0.0.1:{port}/")]);
        command.args(["--cluster-secret", SECRET, "--max-players", &room_players.to_string()]);
        command.args(["--max-connections", "8192", "--max-connections-per-ip", "8192"]);
        command.args(["--room-creations-per-minute", "1000"]);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        command.stdout(Stdio::piped()).stderr(log_file(&log)?);
        let mut server = ChildGuard::spawn("server", command)?;
        let addr = listening_address(&mut server, &log)?;
        servers.push((server, addr));
    }
    // Every process registered before the bots arrive.
    pause(Duration::from_secs(2))?;

    let per_door = bots.div_ceil(processes);
    let join_budget = bots as f64 / plan.ramp * 1.5 + 20.0;
    let duration = join_budget + plan.warmup + plan.window + 60.0;
    let mut bot_processes = Vec::new();
    for (i, (_, addr)) in servers.iter().enumerate() {
        let log = plan.log_dir.join(format!("cluster-bots-{i}.log"));
        let mut command = child_command(&plan.bots_bin, None);
        command.arg("--url").arg(format!("ws://{addr}/ws"));
        command.arg("--count").arg(per_door.to_string());
        command.arg("--duration").arg(format!("{duration:.0}"));
        command.arg("--ramp").arg((plan.ramp / processes as f64).to_string());
        command.arg("--name-prefix").arg(format!("d{i}bot"));
        command.arg("--seed").arg((i + 1).to_string());
        if plan.players_only {
            command.arg("--hold-fire");
        }
        command.arg("--json");
        command.stdout(Stdio::piped()).stderr(log_file(&log)?);
        let mut child = ChildGuard::spawn("bots", command)?;
        let report = child.read_stdout();
        bot_processes.push((child, report));
    }

    let players = |servers: &[(ChildGuard, SocketAddr)]| -> u64 {
        servers.iter().filter_map(|(_, addr)| healthz(*addr).ok()).map(|health| health.players).sum()
    };
    let ramp = Instant::now();
    while players(&servers) < (per_door * processes) as u64 && ramp.elapsed().as_secs_f64() < join_budget {
        pause(Duration::from_millis(500))?;
    }
    pause(Duration::from_secs_f64(plan.warmup))?;

    let cpu = |pid: u32| proc_cpu(pid).map(|t| t.user + t.system).map_err(Stop::Failed);
    let mut cpu0 = Vec::new();
    let mut health0 = Vec::new();
    for (server, addr) in &servers {
        cpu0.push(cpu(server.pid())?);
        health0.push(healthz_retrying(*addr)?);
    }
    let (redis_cpu0, redis_ops0) = (cpu(redis.pid())?, redis_commands(port)?);
    let window = Instant::now();
    pause(Duration::from_secs_f64(plan.window))?;
    let window_s = window.elapsed().as_secs_f64();
    let (redis_cpu1, redis_ops1) = (cpu(redis.pid())?, redis_commands(port)?);
    let percent = |ticks: u64| 100.0 * ticks as f64 / USER_HZ / window_s;
    let mut rows = Vec::new();
    for (i, (server, addr)) in servers.iter().enumerate() {
        let health = healthz_retrying(*addr)?;
        let used = percent(cpu(server.pid())? - cpu0[i]);
        let bytes = health.bytes_sent.saturating_sub(health0[i].bytes_sent) as f64 / window_s;
        rows.push(format!(
            "| process {} | {} | {} | {:.1}% | {:.1} KB/s |",
            i + 1,
            health.players,
            health.rooms.len(),
            used,
            bytes / 1000.0
        ));
    }
    let redis_ops = (redis_ops1 - redis_ops0) as f64 / window_s;
    let redis_cpu = percent(redis_cpu1 - redis_cpu0);

    let mut reports = Vec::new();
    for (child, report) in &mut bot_processes {
        child.signal(sys::SIGINT);
        if child.wait_within(Duration::from_secs(30))?.is_some() {
            if let Ok(stdout) = report.recv_timeout(Duration::from_secs(5)) {
                if let Some(line) = stdout.lines().rev().find(|line| line.starts_with('{')) {
                    if let Ok(parsed) = serde_json::from_str::<BotsReport>(line) {
                        reports.push(parsed);
                    }
                }
            }
        }
    }
    drop(servers);
    drop(redis);
    let connected: u64 = reports.iter().map(|r| r.connected).sum();
    let failed: u64 = reports.iter().map(|r| r.failed).sum();
    let desyncs: u64 = reports.iter().map(|r| r.desyncs).sum();
    let snapshots = reports.iter().map(|r| r.snapshots_per_bot_s).sum::<f64>() / reports.len().max(1) as f64;
    let bots_cpu: f64 = reports.iter().map(|r| r.cpu_percent).sum();
    let mut text = format!(
        "{processes} processes, {bots} bots ({per_door} through each front door), rooms of {room_players}, {:.0} s \
         window\n\n| | players | rooms | CPU (one core = 100%) | sent |\n| --- | --- | --- | --- | --- |\n",
        window_s
    );
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    text.push_str(&format!(
        "| redis-server | | | {redis_cpu:.1}% | {redis_ops:.0} commands/s |\n\nbots: {connected} connected, {failed} \
         failed, {desyncs} desyncs, {snapshots:.1} snapshots per bot per second, {bots_cpu:.0}% CPU in all\n"
    ));
    Ok(text)
}
