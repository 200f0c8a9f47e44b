//! Runs the browser client's JavaScript unit tests (MessagePack codec, snapshot store) under Node.js, so
//! `cargo test` covers them too. A missing `node` fails the test: it is never silently skipped.

use std::process::Command;

#[test]
fn client_javascript_unit_tests_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("node")
        .args(["--test", "client/test/"])
        .current_dir(root)
        .output()
        .expect("node must be installed to test the browser client (.ci/run installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node --test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("# pass"), "no test results reported:\n{stdout}");
    assert!(stdout.contains("# fail 0"), "{stdout}");
}
