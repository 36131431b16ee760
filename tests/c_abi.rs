//! The C ABI from C: compiles each program under `tests/c/` against `include/fibra.h` and
//! the static library (`libfibra.a`, see `static_lib`), runs it, and checks its output.
//!
//! C programs are compiled with `-std=c99 -Wall -Wextra -Werror`; `header_cxx.cpp` with
//! `-std=c++17` proves the header is usable from C++. With `FIBRA_C_ASAN=1` every C
//! program is also built with `-fsanitize=address` and run again, and must run clean.
//!
//! Skipped (with the reason printed) when the tests do not run on the machine they were
//! built for (cross targets: the host's compiler cannot build for them), or when no C
//! compiler is found.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET: &str = env!("FIBRA_BUILD_TARGET");
const HOST: &str = env!("FIBRA_BUILD_HOST");

/// How long one C program may run before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// What to build: a C program, or the C++ header check.
#[derive(Clone, Copy)]
enum Lang {
    C,
    Cxx,
}

/// Why the C tests cannot run here, if they cannot.
fn skip_reason(lang: Lang) -> Option<String> {
    if TARGET != HOST {
        return Some(format!(
            "built for {TARGET} on {HOST}: the host's C compiler cannot build for the target"
        ));
    }
    if !cfg!(unix) {
        return Some("the C tests link with Unix system libraries".into());
    }
    let tool = match compiler(lang) {
        Ok(t) => t,
        Err(e) => return Some(format!("no C compiler: {e}")),
    };
    let works = tool
        .to_command()
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!works).then(|| format!("the C compiler {:?} does not run", tool.path()))
}

fn compiler(lang: Lang) -> Result<cc::Tool, cc::Error> {
    cc::Build::new()
        .target(TARGET)
        .host(HOST)
        .opt_level(1)
        .debug(true)
        .cargo_metadata(false)
        .cpp(matches!(lang, Lang::Cxx))
        .try_get_compiler()
}

/// `target/<profile>`: where cargo put `libfibra.a` (the test binary is in its `deps`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// `libfibra.a`, built for these tests by a nested `cargo build --lib` into a target
/// directory of their own (`target/c-abi`): `cargo test` does not build the lib's
/// staticlib, and a `libfibra.a` left in `target/<profile>` by an earlier `cargo build`
/// may be stale. Built once per test process; cargo itself decides what is fresh.
fn static_lib() -> PathBuf {
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = profile_dir()
            .parent()
            .expect("target/<profile> has a parent")
            .join("c-abi");
        let (profile, profile_subdir) = if cfg!(debug_assertions) {
            ("dev", "debug")
        } else {
            ("release", "release")
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args(["build", "--lib", "--profile", profile])
            .env("CARGO_TARGET_DIR", &target_dir)
            .status()
            .expect("running cargo to build libfibra.a");
        assert!(status.success(), "cargo build --lib failed: {status}");
        let lib = target_dir.join(profile_subdir).join("libfibra.a");
        assert!(
            lib.exists(),
            "{} is missing after cargo build --lib",
            lib.display()
        );
        lib
    })
    .clone()
}

/// Compiles `tests/c/<name>` (or `<name>` from the crate root, if it has a `/`) into an
/// executable, with ASan if `asan`.
fn build(name: &str, lang: Lang, asan: bool) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = profile_dir().join("c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let file_name = name.rsplit('/').next().unwrap_or(name);
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    let exe = out_dir.join(format!("{stem}{}", if asan { "-asan" } else { "" }));
    let mut cmd = compiler(lang).expect("compiler").to_command();
    cmd.arg(match lang {
        Lang::C => "-std=c99",
        Lang::Cxx => "-std=c++17",
    });
    cmd.args(["-Wall", "-Wextra", "-Werror"]);
    if asan {
        cmd.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
    }
    cmd.arg("-I").arg(root.join("include"));
    cmd.arg("-I").arg(root.join("tests/c"));
    cmd.arg(if name.contains('/') {
        root.join(name)
    } else {
        root.join("tests/c").join(name)
    });
    cmd.arg("-o").arg(&exe);
    cmd.arg(static_lib());
    // What `rustc --print native-static-libs` lists for this target.
    cmd.args([
        "-lgcc_s",
        "-lutil",
        "-lrt",
        "-lpthread",
        "-lm",
        "-ldl",
        "-lc",
    ]);
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {name} failed: {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// ASan settings for the sanitized runs. Fibers and coroutines run C code on stacks
/// ASan did not allocate and is not told about (fibra switches stacks without the
/// `__sanitizer_*_switch_fiber` hooks), so the checks that model "the" stack of a thread
/// are off: `detect_stack_use_after_return` is disabled, because ASan frees a thread's
/// fake frames that lie "below" its current stack pointer, which is meaningless once
/// live frames sit on several stacks (suspended fibers' frames would be freed). Everything else stays on: heap, global and stack
/// buffer overflows, use after free, double free, and leaks (LeakSanitizer, at exit).
const ASAN_OPTIONS: &str = "detect_stack_use_after_return=0:abort_on_error=1:detect_leaks=1";

/// The one ASan message allowed: when a Rust unwind starts on a fiber or coroutine stack
/// (a runtime or coroutine destroyed under a suspended C function, or a caught panic),
/// ASan's `_Unwind_RaiseException` interceptor wants to unpoison the stack from the
/// current frame up to the thread's stack top, finds the stack pointer outside the
/// thread's stack, and declines with this warning. Declining is sound here: the frames
/// such an unwind crosses are all Rust frames (uninstrumented, so carrying no poison);
/// the C frames on those stacks return normally (fibra's cancellation returns
/// `FIBRA_ECANCELED` to them instead of unwinding through them), unpoisoning their own
/// redzones as they go.
const ASAN_ALLOWED_WARNING: &str = "WARNING: ASan is ignoring requested __asan_handle_no_return";

fn assert_asan_clean(exe: &Path, stderr: &str) {
    let mut lines = stderr.lines();
    while let Some(line) = lines.next() {
        if line.contains(ASAN_ALLOWED_WARNING) {
            // Its two follow-up lines ("False positive error reports may follow", a link).
            lines.next();
            lines.next();
            continue;
        }
        assert!(
            !line.contains("Sanitizer") && !line.contains("ASan") && !line.starts_with("=="),
            "{}: sanitizer report:\n{stderr}",
            exe.display()
        );
    }
}

/// Runs an executable to completion (at most `RUN_LIMIT`), returning its stdout.
fn run(exe: &Path, asan: bool) -> String {
    let mut cmd = Command::new(exe);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if asan {
        cmd.env("ASAN_OPTIONS", ASAN_OPTIONS);
    }
    let mut child = cmd.spawn().expect("run the C test program");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let Some(status) = status else {
        panic!(
            "{} hung (killed after {RUN_LIMIT:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
            exe.display()
        );
    };
    assert!(
        status.success(),
        "{} failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        exe.display()
    );
    if asan {
        assert_asan_clean(exe, &stderr);
    }
    stdout
}

/// Says why a test did nothing, on stderr itself: libtest captures `eprintln!` of a
/// passing test, and a skip must show in CI logs.
fn skip_note(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Whether the ASan variants were asked for (`FIBRA_C_ASAN=1`).
fn asan_requested() -> bool {
    std::env::var_os("FIBRA_C_ASAN").is_some_and(|v| v == "1")
}

/// Builds, runs and checks one program: it must print `ok <case>` for each of `cases`,
/// in order, then `PASS`.
fn c_program(name: &str, lang: Lang, cases: &[&str]) {
    if let Some(why) = skip_reason(lang) {
        skip_note(&format!("skipping the C test {name}: {why}"));
        return;
    }
    let mut expected: String = cases.iter().map(|c| format!("ok {c}\n")).collect();
    expected.push_str("PASS\n");
    let asan_too = matches!(lang, Lang::C) && asan_requested();
    for asan in [false, true] {
        if asan && !asan_too {
            continue;
        }
        let exe = build(name, lang, asan);
        let stdout = run(&exe, asan);
        assert_eq!(
            stdout,
            expected,
            "{name}{}: unexpected output",
            if asan { " (ASan)" } else { "" }
        );
    }
}

#[test]
fn fibers() {
    c_program(
        "fibers.c",
        Lang::C,
        &[
            "spawn_join_from_fiber",
            "spawn_join_from_thread",
            "nested_spawn_tree",
            "detach_with_waitgroup",
            "is_finished_and_detach",
            "yield_runs_others",
            "sleep",
            "spawn_options_and_ids",
            "block_on_inside_fiber_refused",
        ],
    );
}

#[test]
fn sync() {
    c_program(
        "sync.c",
        Lang::C,
        &["mutex", "event", "waitgroup", "barrier", "semaphore"],
    );
}

#[test]
fn channel() {
    c_program(
        "channel.c",
        Lang::C,
        &[
            "buffered",
            "rendezvous",
            "unbounded",
            "thread_to_fiber",
            "try_timeout_close",
        ],
    );
}

#[test]
fn coroutine() {
    c_program(
        "coroutine.c",
        Lang::C,
        &[
            "values_in_and_out",
            "destroy_suspended",
            "misuse_refused",
            "big_stack",
            "inside_fibers",
        ],
    );
}

#[test]
fn errors() {
    c_program(
        "errors.c",
        Lang::C,
        &[
            "strerror",
            "null_handles",
            "destroyed_and_wrong_type_handles",
            "context_and_settings",
            "runtime_destroy_cancels_blocked_fibers",
        ],
    );
}

#[test]
fn header_compiles_as_cxx() {
    c_program("header_cxx.cpp", Lang::Cxx, &["channel", "coroutine"]);
}

/// The C example (examples/c/job_system.c) builds warning-free and computes its frames.
#[test]
fn job_system_example() {
    let name = "examples/c/job_system.c";
    if let Some(why) = skip_reason(Lang::C) {
        skip_note(&format!("skipping the C example {name}: {why}"));
        return;
    }
    for asan in [false, true] {
        if asan && !asan_requested() {
            continue;
        }
        let stdout = run(&build(name, Lang::C, asan), asan);
        let mut lines = stdout.lines();
        assert!(
            lines.next().is_some_and(|l| l.starts_with("job_system: ")),
            "{stdout}"
        );
        let frames: Vec<&str> = lines.collect();
        assert_eq!(
            frames,
            [
                "frame 0: checksum 19.4800",
                "frame 1: checksum 30.7200",
                "frame 2: checksum 62.4400"
            ],
            "{stdout}"
        );
    }
}
