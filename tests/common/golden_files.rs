//! The committed golden files the browser client's tests read (client/test/*.json): a test fails when the file
//! differs from what the server's own code writes now, unless `SKIRMISH_BLESS` asks it to rewrite the file.

use std::path::Path;

pub fn bless_requested() -> bool {
    std::env::var("SKIRMISH_BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Holds the committed file at `relative` (from the crate root) to `expected`: a missing or different file fails,
/// unless `SKIRMISH_BLESS` is set, which (re)writes it.
pub fn check_committed(relative: &str, expected: &str, what: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let current = match std::fs::read_to_string(&path) {
        Ok(current) => Some(current.replace("\r\n", "\n")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    };
    if current.as_deref() == Some(expected) {
        return;
    }
    if bless_requested() {
        std::fs::write(&path, expected).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }
    let state = if current.is_some() { "differs from" } else { "is missing; it must hold" };
    panic!(
        "{relative} {state} {what}. If the change is intended, regenerate it with \
         `SKIRMISH_BLESS=1 cargo test --test golden --test golden_steps`, review the diff and commit it (the browser client's tests in \
         client/test/ read this file, so the client must agree with it: run `node --test client/test/`)."
    );
}

/// Bytes as lowercase hex, as the golden files store them.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
