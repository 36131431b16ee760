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

/// Runs `f` on a thread of its own and fails the test if it takes longer than `secs`
/// seconds (so a hang is a failure, not a stuck CI job). The thread is left behind then;
/// the test process exits at the end anyway.
pub(crate) fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let body = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(()) => body.join().unwrap(),
        // The body panicked (its sender was dropped): re-raise its panic.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match body.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("test body did not finish within {secs} s (hang?)")
        }
    }
}

/// Raises this process's soft open-files limit to its hard limit; returns the new limit.
#[cfg(unix)]
pub(crate) fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a live rlimit struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur as u64
    }
}
