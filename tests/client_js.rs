//! Runs the browser client's JavaScript unit tests (MessagePack codec, protocol, golden and step vectors, snapshot
//! store, prediction, interpolation, scene) under Node.js, so `cargo test` covers them too. A missing `node` fails
//! the test: it is never silently skipped. So does a run that passes fewer tests than the suite has (a file that
//! stopped loading, tests turned into `skip` or `todo`), read from the summary counts node prints.

use std::process::Command;

/// The number of tests in client/test/ today. Raise it when tests are added; a run that passes fewer fails.
const MIN_TESTS: u64 = 286;

/// The value of the summary line `# {key} N` of node's TAP output, if it printed one.
fn summary_count(stdout: &str, key: &str) -> Option<u64> {
    let prefix = format!("# {key} ");
    let mut found = stdout.lines().filter_map(|line| line.strip_prefix(&prefix));
    let value = found.next()?;
    assert!(found.next().is_none(), "node printed `# {key}` twice:\n{stdout}");
    Some(value.trim().parse().unwrap_or_else(|_| panic!("`# {key} {value}` is not a count:\n{stdout}")))
}

#[test]
fn client_javascript_unit_tests_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("node")
        .args(["--test", "--test-reporter=tap", "client/test/"])
        .current_dir(root)
        .output()
        .expect("node must be installed to test the browser client (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node --test failed:\n{stdout}\n{stderr}");

    let count = |key: &str| summary_count(&stdout, key);
    let tests = count("tests").unwrap_or_else(|| panic!("node printed no `# tests` count:\n{stdout}\n{stderr}"));
    let pass = count("pass").unwrap_or_else(|| panic!("node printed no `# pass` count:\n{stdout}\n{stderr}"));
    let fail = count("fail").unwrap_or_else(|| panic!("node printed no `# fail` count:\n{stdout}\n{stderr}"));
    assert_eq!(fail, 0, "{fail} JavaScript tests failed:\n{stdout}");
    // Counts node prints only in some versions: when present, nothing may hide there.
    for key in ["cancelled", "skipped", "todo"] {
        if let Some(n) = count(key) {
            assert_eq!(n, 0, "{n} JavaScript tests {key}:\n{stdout}");
        }
    }
    assert_eq!(pass, tests, "{tests} JavaScript tests ran but only {pass} passed:\n{stdout}");
    assert!(
        pass >= MIN_TESTS,
        "only {pass} JavaScript tests passed, the suite has at least {MIN_TESTS} (a test file stopped loading or \
         tests were removed; lower MIN_TESTS in tests/client_js.rs only on purpose):\n{stdout}"
    );
}
