//! The children (the server and the bots) and their logs: starting them pinned and in a process group of their own,
//! watching them, stopping them, and this process's own signals.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Stop;

/// Set by the signal thread on SIGINT or SIGTERM; every wait polls it.
static STOP: AtomicBool = AtomicBool::new(false);

pub fn check_stop() -> Result<(), Stop> {
    if STOP.load(Ordering::Relaxed) {
        Err(Stop::Interrupted)
    } else {
        Ok(())
    }
}

/// Waits for the server's "skirmish listening on http://ADDR ..." line on its stdout.
pub fn listening_address(server: &mut ChildGuard, log: &Path) -> Result<SocketAddr, Stop> {
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
pub fn check_alive(
    server: &mut ChildGuard,
    server_log: &Path,
    bots: &mut ChildGuard,
    bots_log: &Path,
) -> Result<(), Stop> {
    if let Some(status) = server.exited() {
        return Err(Stop::Failed(format!("server exited ({status}): {}", log_tail(server_log))));
    }
    if let Some(status) = bots.exited() {
        return Err(Stop::Failed(format!("bots exited early ({status}): {}", log_tail(bots_log))));
    }
    Ok(())
}

/// Sleeps `seconds` while watching both children and the stop flag.
pub fn idle(
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
pub fn pause(duration: Duration) -> Result<(), Stop> {
    std::thread::sleep(duration);
    check_stop()
}

/// A child process, killed (SIGKILL) and reaped when dropped, however the row ends.
pub struct ChildGuard {
    pub child: Child,
    name: &'static str,
}

impl ChildGuard {
    pub fn spawn(name: &'static str, mut command: Command) -> Result<ChildGuard, Stop> {
        let child = command.spawn().map_err(|error| Stop::Failed(format!("cannot start the {name}: {error}")))?;
        Ok(ChildGuard { child, name })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn signal(&self, signal: i32) {
        sys::send_signal(self.pid(), signal);
    }

    /// Its whole stdout, sent once it closes.
    pub fn read_stdout(&mut self) -> mpsc::Receiver<String> {
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
    pub fn wait_within(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, Stop> {
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
pub fn child_command(program: &Path, cpus: Option<String>) -> Command {
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

pub fn log_file(path: &Path) -> Result<std::fs::File, Stop> {
    std::fs::File::create(path).map_err(|error| Stop::Failed(format!("cannot create {}: {error}", path.display())))
}

/// The last lines of a child's log, for an error message.
pub fn log_tail(path: &Path) -> String {
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
pub fn output_within(command: &mut Command, timeout: Duration) -> Option<String> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = ChildGuard { child: command.spawn().ok()?, name: "helper" };
    let stdout = child.read_stdout().recv_timeout(timeout).ok()?;
    child.wait_within(Duration::from_secs(1)).ok()?.filter(ExitStatus::success)?;
    Some(stdout)
}

/// The two libc calls this needs, declared here rather than adding a dependency for them.
pub mod sys {
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
pub fn watch_signals() {
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
