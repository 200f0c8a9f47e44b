//! A minimal Chrome DevTools Protocol client for the browser tests: no browser-automation crate, just headless
//! Chromium as a child process and JSON commands over the crate's own WebSocket client.
//!
//! How it works: `Browser::launch` starts Chromium with `--remote-debugging-port=0` and a fresh profile under
//! `target/`, reads its stderr until the `DevTools listening on ws://...` line, and opens that browser-level
//! WebSocket with `skirmish::client::open`. Every command is one text frame `{"id", "method", "params",
//! "sessionId"?}`; `call` writes it and reads frames until the response carrying the same id, skipping the events
//! in between (console messages and uncaught exceptions are kept per page for failure messages). Pages are targets
//! created with `Target.createTarget` and attached with `flatten: true`, so their commands travel on the same
//! socket tagged with their session id. Commands are sequential (one in flight), which is all the tests need.
//! Every wait is bounded, and the browser process is killed when `Browser` is dropped, even on a failed test.
#![allow(dead_code)]

pub mod pages;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// How long Chromium may take to start and print its DevTools address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one command may take to be answered.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Stderr lines kept for the message of a failed launch.
const STDERR_TAIL: usize = 40;
/// Console lines kept per page.
const PAGE_LOG: usize = 200;

/// Where Debian's browser lives, and the lighter headless-only build some development machines have instead.
const CHROMIUM: &str = "/usr/bin/chromium";
const HEADLESS_SHELL: &str = "/usr/bin/chromium-headless-shell";

/// What went wrong talking to the browser; tests turn it into a panic with this message.
#[derive(Debug)]
pub struct CdpError(pub String);

impl fmt::Display for CdpError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CdpError {}

pub type Result<T> = std::result::Result<T, CdpError>;

fn err<T>(message: impl Into<String>) -> Result<T> {
    Err(CdpError(message.into()))
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The Chromium binary to drive: Debian's `chromium`, or (outside CI only) `chromium-headless-shell`. A missing
/// browser is an error, never a reason to skip: `scripts/test` installs it, a developer running `cargo test` alone is told how.
pub fn find_chromium() -> Result<PathBuf> {
    if Path::new(CHROMIUM).exists() {
        return Ok(CHROMIUM.into());
    }
    if is_ci() {
        return err(format!(
            "{CHROMIUM} is missing on CI: the browser tests need Debian's chromium package (scripts/test installs it \
             with `apt-get install -y --no-install-recommends chromium`)"
        ));
    }
    if Path::new(HEADLESS_SHELL).exists() {
        return Ok(HEADLESS_SHELL.into());
    }
    err(format!(
        "the browser tests need headless Chromium at {CHROMIUM}: run the tests with `scripts/test`, which installs it, or `apt-get install chromium` \
         (as root; on Debian or Ubuntu)"
    ))
}

/// A page (one target) of the browser; commands for it go through `Browser` with its session id.
#[derive(Clone, Debug)]
pub struct Page {
    pub target_id: String,
    pub session_id: String,
}

/// The Chromium child process; killed (and its profile removed) on drop.
struct Process {
    child: Child,
    profile: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Chromium's helper processes (zygote, renderers, GPU) exit by themselves once the browser process is gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A running headless Chromium and the DevTools connection to it.
pub struct Browser {
    ws: FragmentCollector<TokioIo<Upgraded>>,
    next_id: u64,
    /// Console output and uncaught exceptions, by session id.
    logs: HashMap<String, VecDeque<String>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    // Last field: dropped after the socket.
    process: Process,
}

fn unique_profile_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chromium-{}-{n}-{nanos}", std::process::id()))
}

/// Reads Chromium's stderr on a thread of its own until it closes: hands over the DevTools URL when it appears
/// and keeps the last lines for error messages (and keeps the pipe drained so the browser never blocks on it).
fn watch_stderr(stderr: std::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>, url: oneshot::Sender<String>) {
    std::thread::spawn(move || {
        let mut url = Some(url);
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if let Some(found) = text.strip_prefix("DevTools listening on ") {
                if let Some(sender) = url.take() {
                    let _ = sender.send(found.trim().to_string());
                }
            }
            let mut tail = tail.lock().unwrap();
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(text);
        }
        // Dropping the sender without a URL tells `launch` the browser exited first.
    });
}

impl Browser {
    /// Starts headless Chromium (see `find_chromium`) and connects to its DevTools endpoint.
    pub async fn launch() -> Result<Browser> {
        let binary = find_chromium()?;
        let profile = unique_profile_dir();
        std::fs::create_dir_all(&profile).map_err(|e| CdpError(format!("create {}: {e}", profile.display())))?;
        let child = Command::new(&binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CdpError(format!("cannot start {}: {e}", binary.display())))?;
        let mut process = Process { child, profile };
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let (url_tx, url_rx) = oneshot::channel();
        watch_stderr(process.child.stderr.take().expect("stderr is piped"), stderr.clone(), url_tx);

        let tail = |stderr: &Arc<Mutex<VecDeque<String>>>| Vec::from(stderr.lock().unwrap().clone()).join("\n");
        let url = match tokio::time::timeout(LAUNCH_TIMEOUT, url_rx).await {
            Ok(Ok(url)) => url,
            Ok(Err(_)) => {
                let status = process.child.wait().map(|s| s.to_string()).unwrap_or_default();
                return err(format!(
                    "{} exited ({status}) before DevTools listened:\n{}",
                    binary.display(),
                    tail(&stderr)
                ));
            }
            Err(_) => {
                return err(format!(
                    "{} printed no DevTools address in {LAUNCH_TIMEOUT:?}:\n{}",
                    binary.display(),
                    tail(&stderr)
                ))
            }
        };
        let ws = tokio::time::timeout(COMMAND_TIMEOUT, skirmish::client::open(&url))
            .await
            .map_err(|_| CdpError(format!("timed out connecting to {url}")))?
            .map_err(|e| CdpError(format!("cannot connect to {url}: {e}")))?;
        Ok(Browser { ws: FragmentCollector::new(ws), next_id: 0, logs: HashMap::new(), stderr, process })
    }

    /// Sends one command (to the browser, or to a page's session) and returns its `result`.
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = session.into();
        }
        let text = serde_json::to_vec(&message).expect("a JSON value serializes");
        match tokio::time::timeout(COMMAND_TIMEOUT, self.exchange(id, text)).await {
            Ok(Ok(reply)) => match reply.get("error") {
                Some(error) => err(format!("{method} failed: {error}")),
                None => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
            },
            Ok(Err(e)) => err(format!("{method}: {e}")),
            Err(_) => err(format!("{method}: no answer within {COMMAND_TIMEOUT:?}")),
        }
    }

    async fn exchange(&mut self, id: u64, text: Vec<u8>) -> Result<Value> {
        self.ws.write_frame(Frame::text(Payload::Owned(text))).await.map_err(|e| CdpError(format!("send: {e}")))?;
        loop {
            let frame = self.ws.read_frame().await.map_err(|e| CdpError(format!("receive: {e}")))?;
            match frame.opcode {
                OpCode::Text => {}
                OpCode::Close => return err("the browser closed the DevTools connection"),
                _ => continue,
            }
            let message: Value =
                serde_json::from_slice(&frame.payload).map_err(|e| CdpError(format!("invalid DevTools JSON: {e}")))?;
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                return Ok(message);
            }
            self.record_event(&message);
        }
    }

    /// Keeps what a page printed or threw, for failure messages.
    fn record_event(&mut self, message: &Value) {
        let (Some(session), Some(method)) =
            (message.get("sessionId").and_then(Value::as_str), message.get("method").and_then(Value::as_str))
        else {
            return;
        };
        let params = &message["params"];
        let line = match method {
            "Runtime.consoleAPICalled" => {
                let args: Vec<String> = params["args"]
                    .as_array()
                    .map(|args| {
                        args.iter()
                            .map(|a| match a.get("value") {
                                Some(Value::String(s)) => s.clone(),
                                Some(v) => v.to_string(),
                                None => a["description"].as_str().unwrap_or("?").to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!("console.{}: {}", params["type"].as_str().unwrap_or("log"), args.join(" "))
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("?");
                format!("uncaught: {text}")
            }
            _ => return,
        };
        let log = self.logs.entry(session.to_string()).or_default();
        if log.len() == PAGE_LOG {
            log.pop_front();
        }
        log.push_back(line);
    }

    /// What `page` printed to its console (and threw) so far.
    pub fn page_log(&self, page: &Page) -> String {
        self.logs.get(&page.session_id).map(|log| Vec::from(log.clone()).join("\n")).unwrap_or_default()
    }

    /// Chromium's recent stderr lines.
    pub fn stderr_tail(&self) -> String {
        Vec::from(self.stderr.lock().unwrap().clone()).join("\n")
    }

    /// Opens a new blank page with a fixed `width`x`height` viewport and console capture.
    pub async fn new_page(&mut self, width: u32, height: u32) -> Result<Page> {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" })).await?;
        let target_id = target["targetId"].as_str().ok_or_else(|| CdpError("no targetId".into()))?.to_string();
        let attached =
            self.call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true })).await?;
        let session_id = attached["sessionId"].as_str().ok_or_else(|| CdpError("no sessionId".into()))?.to_string();
        let page = Page { target_id, session_id };
        let s = Some(page.session_id.as_str());
        self.call(s, "Runtime.enable", json!({})).await?;
        self.call(s, "Page.enable", json!({})).await?;
        self.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await?;
        // Several pages share one headless browser: make each one behave as the focused, visible tab.
        self.call(s, "Emulation.setFocusEmulationEnabled", json!({ "enabled": true })).await?;
        Ok(page)
    }

    /// Navigates `page` to `url` (returns once the navigation is committed, not when the page has loaded).
    pub async fn navigate(&mut self, page: &Page, url: &str) -> Result<()> {
        let result = self.call(Some(&page.session_id), "Page.navigate", json!({ "url": url })).await?;
        match result.get("errorText").and_then(Value::as_str) {
            Some(error) => err(format!("navigating to {url}: {error}")),
            None => Ok(()),
        }
    }

    /// Brings `page` to the front (focus for keyboard input).
    pub async fn bring_to_front(&mut self, page: &Page) -> Result<()> {
        self.call(Some(&page.session_id), "Page.bringToFront", json!({})).await.map(drop)
    }

    /// Evaluates a JavaScript expression in `page` (awaiting a returned promise) and returns its value as JSON.
    pub async fn evaluate(&mut self, page: &Page, expression: &str) -> Result<Value> {
        let params = json!({ "expression": expression, "returnByValue": true, "awaitPromise": true });
        let result = self.call(Some(&page.session_id), "Runtime.evaluate", params).await?;
        if let Some(details) = result.get("exceptionDetails") {
            let text = details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("?");
            return err(format!("JavaScript threw: {text}\n  in: {expression}"));
        }
        Ok(result["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Presses (`down`) or releases a key given by its DOM `key`, `code` and Windows virtual key code.
    pub async fn key(&mut self, page: &Page, down: bool, key: &str, code: &str, key_code: u32) -> Result<()> {
        let mut params = json!({
            "type": if down { "keyDown" } else { "keyUp" },
            "key": key,
            "code": code,
            "windowsVirtualKeyCode": key_code,
            "nativeVirtualKeyCode": key_code,
        });
        // A real Enter also types a carriage return: that keypress is what submits a form from a text field.
        if down && key == "Enter" {
            params["text"] = json!("\r");
        }
        self.call(Some(&page.session_id), "Input.dispatchKeyEvent", params).await.map(drop)
    }

    /// Clicks the middle of the first element `selector` matches with the mouse, as a user would: the press goes to
    /// whatever is on top there, so a hidden or covered control is not clicked. Scrolls the element into view first.
    pub async fn click(&mut self, page: &Page, selector: &str) -> Result<()> {
        let quoted = serde_json::to_string(selector).expect("a string serializes");
        let expression = format!(
            "(() => {{ const e = document.querySelector({quoted}); if (e === null) return null; \
             e.scrollIntoView({{ block: 'center' }}); const r = e.getBoundingClientRect(); \
             return r.width > 0 && r.height > 0 ? {{ x: r.left + r.width / 2, y: r.top + r.height / 2 }} : null; }})()"
        );
        let at = self.evaluate(page, &expression).await?;
        let (Some(x), Some(y)) = (at["x"].as_f64(), at["y"].as_f64()) else {
            return err(format!("no displayed element matches {selector}"));
        };
        for (kind, button) in [("mouseMoved", "none"), ("mousePressed", "left"), ("mouseReleased", "left")] {
            let params = json!({ "type": kind, "x": x, "y": y, "button": button, "clickCount": 1 });
            self.call(Some(&page.session_id), "Input.dispatchMouseEvent", params).await?;
        }
        Ok(())
    }

    /// Types `text` into the focused element (as an input method would: one insertion, no key events).
    pub async fn insert_text(&mut self, page: &Page, text: &str) -> Result<()> {
        self.call(Some(&page.session_id), "Input.insertText", json!({ "text": text })).await.map(drop)
    }

    /// A PNG screenshot of `page`'s viewport.
    pub async fn screenshot_png(&mut self, page: &Page) -> Result<Vec<u8>> {
        let result = self.call(Some(&page.session_id), "Page.captureScreenshot", json!({ "format": "png" })).await?;
        let data = result["data"].as_str().ok_or_else(|| CdpError("screenshot without data".into()))?;
        base64_decode(data).ok_or_else(|| CdpError("screenshot data is not valid base64".into()))
    }

    /// Asks the browser to exit, then (drop) makes sure it did.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.call(None, "Browser.close", json!({}))).await;
        for _ in 0..20 {
            if matches!(self.process.child.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Decodes standard base64 (with or without padding); `None` on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = acc << 6 | sextet(c)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
            2 => out.push((acc >> 4) as u8),
            _ => return None,
        }
    }
    Some(out)
}
