//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs one test of the current test binary in a child process with `FIBRA_CHILD=<name>` set,
/// so that the test can do something fatal (overflow, abort) and the parent checks the output.
///
/// Under emulation the child must go through the same runner as the parent: `.ci/cross`
/// sets `FIBRA_CHILD_RUNNER` (e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`).
pub(crate) fn run_child(test_name: &str) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    let mut runner = std::env::var("FIBRA_CHILD_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect::<Vec<_>>();
    let mut cmd = if runner.is_empty() {
        Command::new(&exe)
    } else {
        let program = runner.remove(0);
        let mut c = Command::new(program);
        c.args(runner).arg(&exe);
        c
    };
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env("FIBRA_CHILD", test_name);
    cmd.output().expect("spawn child test process")
}

/// True inside the child process started by `run_child` for `test_name`.
pub(crate) fn is_child(test_name: &str) -> bool {
    std::env::var("FIBRA_CHILD").is_ok_and(|v| v == test_name)
}

/// For tests whose body must run in a child process: in the parent, runs the child and
/// asserts it succeeded, then returns false; in the child, returns true (run the body).
pub(crate) fn run_body_in_child(test_name: &str) -> bool {
    if is_child(test_name) {
        return true;
    }
    let out = run_child(test_name);
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}
