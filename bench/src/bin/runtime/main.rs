//! Side-by-side benchmark of fibra's work-stealing runtime against Go, tokio, may and
//! Boost.Fiber (issue 3's Benchmarks section). See ../../../README.md, "Runtime peers".
//!
//! Every measurement runs in a fresh child process: this binary again (`--child LIB
//! BENCH N`) for fibra, tokio and may, and small programs of their own for Go
//! (`go/runtime.go`) and Boost.Fiber (`boost/runtime.cpp`), which the harness builds into
//! the target directory. All of them print their result in one line format,
//! `result key=value ...`, after any number of `progress key=value ...` lines. A fresh
//! process per measurement keeps each contender's memory (and may's global scheduler)
//! out of the others' measurements, makes the RSS figures meaningful, and lets a
//! contender abort (may runs out of memory mappings at 1M fibers) without taking the
//! harness down.
//!
//! Each row runs its contenders interleaved over several rounds (the order rotates every
//! round) and reports medians; the fibra/Go and fibra/may ratios are medians of
//! per-round ratios, as in the coroutine harness (`src/main.rs`).

#[cfg(feature = "fibra-runtime")]
mod fibra_rt;
mod may_rt;
mod tokio_rt;

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Tasks per batch of the spawn+join row.
pub(crate) const BATCH: u64 = 1000;
/// The parked row spawns in chunks of this many and reports the RSS after each chunk.
pub(crate) const CHUNK: u64 = 10_000;

// ---------------------------------------------------------------------------------------
// The contenders

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    Fibra,
    Go,
    Tokio,
    May,
    /// Boost.Fiber on one thread (round_robin), as in the table.
    Boost1,
    /// Boost.Fiber on two threads (work_stealing), like everyone else's two workers.
    Boost2,
}

const ALL_LIBS: [Lib; 6] = [
    Lib::Fibra,
    Lib::Go,
    Lib::Tokio,
    Lib::May,
    Lib::Boost1,
    Lib::Boost2,
];

impl Lib {
    fn key(self) -> &'static str {
        match self {
            Lib::Fibra => "fibra",
            Lib::Go => "go",
            Lib::Tokio => "tokio",
            Lib::May => "may",
            Lib::Boost1 => "boost1",
            Lib::Boost2 => "boost2",
        }
    }

    fn from_key(key: &str) -> Option<Lib> {
        ALL_LIBS.into_iter().find(|l| l.key() == key)
    }
}

// ---------------------------------------------------------------------------------------
// The rows

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The child prints `result ns_per_op=X`.
    Time,
    /// The child prints `progress parked=K kib_per_fiber=X` per chunk, then `result` alike.
    Rss,
}

#[derive(Clone, Copy)]
enum Target {
    /// fibra / that peer, per round, at most this.
    RatioTo(Lib, f64),
    /// fibra's KiB per parked fiber at most this, and all N parked.
    Kib(f64),
}

struct Row {
    key: &'static str,
    kind: Kind,
    /// N: tasks, yields, skynet leaves, parked fibers.
    n: u64,
    n_quick: u64,
    rounds: usize,
    rounds_quick: usize,
    /// Per child.
    timeout: Duration,
    target: Target,
}

const ROWS: [Row; 4] = [
    Row {
        key: "spawn_join",
        kind: Kind::Time,
        n: 200_000,
        n_quick: 50_000,
        rounds: 11,
        rounds_quick: 3,
        timeout: Duration::from_secs(60),
        target: Target::RatioTo(Lib::Go, 0.5),
    },
    Row {
        key: "yield",
        kind: Kind::Time,
        n: 2_000_000,
        n_quick: 500_000,
        rounds: 11,
        rounds_quick: 3,
        timeout: Duration::from_secs(60),
        target: Target::RatioTo(Lib::May, 0.5),
    },
    Row {
        key: "skynet",
        kind: Kind::Time,
        n: 1_000_000,
        n_quick: 100_000,
        rounds: 5,
        rounds_quick: 2,
        timeout: Duration::from_secs(120),
        target: Target::RatioTo(Lib::Go, 0.5),
    },
    Row {
        key: "parked",
        kind: Kind::Rss,
        n: 1_000_000,
        n_quick: 100_000,
        rounds: 3,
        rounds_quick: 1,
        timeout: Duration::from_secs(180),
        target: Target::Kib(4.5),
    },
];

fn row_name(row: &Row, n: u64) -> String {
    match row.key {
        "spawn_join" => "spawn+join, batches of 1000, per task".into(),
        "yield" => "yield_now, one fiber, per yield".into(),
        "skynet" => format!("skynet, {} leaves, per fiber", fmt_count(n)),
        "parked" => format!("RSS per parked fiber, {} parked", fmt_count(n)),
        _ => unreachable!(),
    }
}

/// How much work one contender does in a row. Boost.Fiber's skynet and parked rows run
/// at a tenth: its default 128 KiB malloc'ed stacks cost ~11 KiB of RSS each, so a
/// million live fibers would take ~11 GiB of this 24 GiB machine.
fn n_for(lib: Lib, row: &Row, n: u64) -> u64 {
    match (lib, row.key) {
        (Lib::Boost1 | Lib::Boost2, "skynet" | "parked") => n / 10,
        _ => n,
    }
}

/// What exactly runs, shown under the table.
fn what(lib: Lib, row: &Row) -> &'static str {
    match (lib, row.key) {
        (Lib::Fibra, "spawn_join") => {
            "fibra::spawn(|| v * 2) x1000 in a block_on fiber, JoinHandle::join each"
        }
        (Lib::Go, "spawn_join") => {
            "go func() { h <- v * 2 }() x1000, h a chan of cap 1 per task, receive each"
        }
        (Lib::Tokio, "spawn_join") => {
            "tokio::spawn(async move { v * 2 }) x1000 from a task, .await each handle"
        }
        (Lib::May, "spawn_join") => {
            "go!(move || v * 2) x1000 from a coroutine, JoinHandle::join each"
        }
        (Lib::Boost1 | Lib::Boost2, "spawn_join") => {
            "fiber([slot, v] { *slot = v * 2; }) x1000, join() each"
        }
        (Lib::Fibra, "yield") => "fibra::yield_now() in one spawned fiber",
        (Lib::Go, "yield") => "runtime.Gosched() in one goroutine",
        (Lib::Tokio, "yield") => "tokio::task::yield_now().await in one spawned task",
        (Lib::May, "yield") => "may::coroutine::yield_now() in one coroutine",
        (Lib::Boost1 | Lib::Boost2, "yield") => "boost::this_fiber::yield() in one fiber",
        (Lib::Fibra, "skynet") => "each node fibra::spawn()s 10 children and joins them",
        (Lib::Go, "skynet") => {
            "each node starts 10 goroutines that send their sums on a chan of cap 10"
        }
        (Lib::Tokio, "skynet") => {
            "each node tokio::spawn()s 10 children and awaits them (inner nodes boxed)"
        }
        (Lib::May, "skynet") => "each node go!()s 10 children and joins them",
        (Lib::Boost1 | Lib::Boost2, "skynet") => {
            "each node starts 10 fibers and joins them (at a tenth of N)"
        }
        (Lib::Fibra, "parked") => {
            "a chain: fiber k joins fiber k-1, fiber 0 joins a spawn_blocking gate"
        }
        (Lib::Go, "parked") => "goroutines blocked receiving from one chan, closed at the end",
        (Lib::Tokio, "parked") => {
            "tasks awaiting Semaphore::acquire on one 0-permit semaphore, closed at the end"
        }
        (Lib::May, "parked") => "coroutines in SyncFlag::wait on one flag, fired at the end",
        (Lib::Boost1 | Lib::Boost2, "parked") => {
            "detached fibers in condition_variable::wait (at a tenth of N)"
        }
        _ => "",
    }
}

// ---------------------------------------------------------------------------------------
// Child side: run one measurement and print its result line

/// RSS bookkeeping of the parked row, shared by the Rust contenders.
pub(crate) mod rss {
    use super::*;

    static BASE_KIB: AtomicU64 = AtomicU64::new(0);

    /// VmRSS of this process, in KiB.
    pub(crate) fn vm_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/self/status")
    }

    /// Call once before spawning the parked fibers.
    pub(crate) fn baseline() {
        BASE_KIB.store(vm_rss_kib(), Ordering::Relaxed);
    }

    /// Call once `parked` fibers are all parked: prints a `progress` line, or the
    /// `result` line once `parked == total`.
    pub(crate) fn checkpoint(parked: u64, total: u64) {
        let grown = vm_rss_kib().saturating_sub(BASE_KIB.load(Ordering::Relaxed));
        let kind = if parked == total {
            "result"
        } else {
            "progress"
        };
        println!(
            "{kind} parked={parked} kib_per_fiber={:.3}",
            grown as f64 / parked as f64
        );
    }
}

pub(crate) fn ns_per(elapsed: Duration, ops: u64) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

/// Number of fibers a skynet over `leaves` leaves spawns (10 + 100 + ... + leaves; the
/// root runs in the benchmark's own task).
pub(crate) fn skynet_fibers(leaves: u64) -> u64 {
    (10 * leaves - 10) / 9
}

fn is_power_of_10(mut n: u64) -> bool {
    while n > 1 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

fn run_child(lib: &str, bench: &str, n: u64) {
    let lib = Lib::from_key(lib).unwrap_or_else(|| usage());
    match bench {
        "spawn_join" => assert!(n.is_multiple_of(BATCH), "N must be a multiple of {BATCH}"),
        "skynet" => assert!(is_power_of_10(n) && n >= 10, "N must be a power of 10"),
        "yield" | "parked" => {}
        _ => usage(),
    }
    let ns = match (lib, bench) {
        (Lib::Tokio, "spawn_join") => tokio_rt::spawn_join(n),
        (Lib::Tokio, "yield") => tokio_rt::yield_loop(n),
        (Lib::Tokio, "skynet") => tokio_rt::skynet(n),
        (Lib::Tokio, "parked") => return tokio_rt::parked(n),
        (Lib::May, "spawn_join") => may_rt::spawn_join(n),
        (Lib::May, "yield") => may_rt::yield_loop(n),
        (Lib::May, "skynet") => may_rt::skynet(n),
        (Lib::May, "parked") => return may_rt::parked(n),
        #[cfg(feature = "fibra-runtime")]
        (Lib::Fibra, "spawn_join") => fibra_rt::spawn_join(n),
        #[cfg(feature = "fibra-runtime")]
        (Lib::Fibra, "yield") => fibra_rt::yield_loop(n),
        #[cfg(feature = "fibra-runtime")]
        (Lib::Fibra, "skynet") => fibra_rt::skynet(n),
        #[cfg(feature = "fibra-runtime")]
        (Lib::Fibra, "parked") => return fibra_rt::parked(n),
        #[cfg(not(feature = "fibra-runtime"))]
        (Lib::Fibra, _) => {
            eprintln!("fibra's column needs the `fibra-runtime` feature");
            std::process::exit(2)
        }
        _ => {
            eprintln!("{} runs as its own program, not as --child", lib.key());
            std::process::exit(2)
        }
    };
    if bench == "skynet" {
        println!("result ns_per_op={ns:.3} fibers={}", skynet_fibers(n));
    } else {
        println!("result ns_per_op={ns:.3}");
    }
}

// ---------------------------------------------------------------------------------------
// Harness side

struct Options {
    quick: bool,
    rounds: Option<usize>,
    only: Option<String>,
    libs: Vec<Lib>,
}

fn usage() -> ! {
    eprintln!(
        "usage: runtime [--quick] [--rounds N] [--only ROW] [--libs LIB,LIB...]\n\
         \x20      runtime --child LIB ROW N\n\
         ROW: {}; LIB: {}",
        ROWS.iter().map(|r| r.key).collect::<Vec<_>>().join(", "),
        ALL_LIBS.map(Lib::key).join(", ")
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        quick: false,
        rounds: None,
        only: None,
        libs: ALL_LIBS.to_vec(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--rounds" => {
                opts.rounds = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .filter(|&r| r > 0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--only" => {
                let key = args.next().unwrap_or_else(|| usage());
                if !ROWS.iter().any(|r| r.key == key) {
                    usage();
                }
                opts.only = Some(key);
            }
            "--libs" => {
                let list = args.next().unwrap_or_else(|| usage());
                opts.libs = list
                    .split(',')
                    .map(|k| Lib::from_key(k).unwrap_or_else(|| usage()))
                    .collect();
            }
            "--child" => {
                let lib = args.next().unwrap_or_else(|| usage());
                let bench = args.next().unwrap_or_else(|| usage());
                let n = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage());
                run_child(&lib, &bench, n);
                return;
            }
            "-h" | "--help" => usage(),
            "--bench" => {}
            _ => usage(),
        }
    }
    run_harness(&opts);
}

/// How to start one contender's child process.
struct Peers {
    me: PathBuf,
    go: Result<PathBuf, String>,
    boost: Result<PathBuf, String>,
}

impl Peers {
    fn available(&self, lib: Lib) -> Result<(), String> {
        match lib {
            Lib::Fibra if !cfg!(feature = "fibra-runtime") => {
                Err("not built (needs `--features fibra-runtime`)".into())
            }
            Lib::Go => self.go.as_ref().map(|_| ()).map_err(Clone::clone),
            Lib::Boost1 | Lib::Boost2 => self.boost.as_ref().map(|_| ()).map_err(Clone::clone),
            _ => Ok(()),
        }
    }

    fn command(&self, lib: Lib, bench: &str, n: u64) -> Command {
        let mut cmd;
        match lib {
            Lib::Go => {
                cmd = Command::new(self.go.as_ref().expect("Go peer built"));
                cmd.args([bench, &n.to_string()]).env("GOMAXPROCS", "2");
            }
            Lib::Boost1 | Lib::Boost2 => {
                cmd = Command::new(self.boost.as_ref().expect("Boost peer built"));
                let threads = if lib == Lib::Boost1 { "1" } else { "2" };
                cmd.args([bench, &n.to_string(), threads]);
            }
            _ => {
                cmd = Command::new(&self.me);
                cmd.args(["--child", lib.key(), bench, &n.to_string()])
                    .env("RUST_BACKTRACE", "0");
            }
        }
        cmd
    }
}

/// The directory the peer programs are built into: `peers/` next to this binary (so
/// under `$CARGO_TARGET_DIR/release/` or `bench/target/release/`).
fn peers_dir(me: &Path) -> PathBuf {
    me.parent().expect("binary in a directory").join("peers")
}

fn is_stale(output: &Path, source: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (mtime(output), mtime(source)) {
        (Some(out), Some(src)) => out < src,
        _ => true,
    }
}

fn command_output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn build_go(dir: &Path) -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("go/runtime.go");
    let exe = dir.join("runtime-go");
    command_output(Command::new("go").arg("version"))
        .map_err(|_| "skipped: `go` not found (apt-get install golang-go)".to_string())?;
    if is_stale(&exe, &source) {
        eprintln!("building {} ...", exe.display());
        let mut cmd = Command::new("go");
        cmd.arg("build").arg("-o").arg(&exe).arg(&source);
        if std::env::var_os("GOCACHE").is_none() {
            cmd.env("GOCACHE", dir.join("go-cache"));
        }
        command_output(&mut cmd).map_err(|e| format!("skipped: go build failed: {e}"))?;
    }
    Ok(exe)
}

fn build_boost(dir: &Path) -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("boost/runtime.cpp");
    let exe = dir.join("runtime-boost");
    if !Path::new("/usr/include/boost/fiber/all.hpp").exists() {
        return Err(
            "skipped: Boost.Fiber not installed (apt-get install libboost-fiber-dev)".into(),
        );
    }
    if is_stale(&exe, &source) {
        eprintln!("building {} ...", exe.display());
        command_output(
            Command::new("g++")
                .args(["-O2", "-std=c++17", "-pthread"])
                .arg(&source)
                .arg("-o")
                .arg(&exe)
                .args(["-lboost_fiber", "-lboost_context"]),
        )
        .map_err(|e| format!("skipped: g++ failed: {e}"))?;
    }
    Ok(exe)
}

/// What one child process reported.
enum Outcome {
    /// ns per operation, or KiB per parked fiber.
    Ok(f64),
    Failed {
        /// How it ended: exit code, signal, time-out, or the last line of its stderr.
        reason: String,
        /// The last `progress` line of the parked row: (fibers parked, KiB per fiber).
        progress: Option<(u64, f64)>,
    },
}

fn fields(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|f| f.split_once('='))
}

fn field(line: &str, key: &str) -> Option<f64> {
    fields(line).find(|(k, _)| *k == key)?.1.parse().ok()
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGILL => "SIGILL".into(),
        s => format!("signal {s}"),
    }
}

/// Runs one measurement in a child process with a time limit.
fn measure(peers: &Peers, lib: Lib, row: &Row, n: u64) -> Outcome {
    let mut child = match peers
        .command(lib, row.key, n)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Failed {
                reason: format!("cannot start: {e}"),
                progress: None,
            };
        }
    };
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + row.timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                // Our own child, by its handle.
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let result = stdout.lines().rev().find(|l| l.starts_with("result "));
    let progress = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("progress ") || l.starts_with("result "))
        .and_then(|l| Some((field(l, "parked")? as u64, field(l, "kib_per_fiber")?)));
    let value = result.and_then(|l| match row.kind {
        Kind::Time => field(l, "ns_per_op"),
        Kind::Rss => field(l, "kib_per_fiber"),
    });
    let success = status.is_some_and(|s| s.success());
    match value {
        // A parked child that printed its result and then failed while releasing the
        // fibers still measured what it was asked to measure; anything else must exit 0.
        Some(v) if success || row.kind == Kind::Rss => Outcome::Ok(v),
        _ => {
            use std::os::unix::process::ExitStatusExt as _;
            let ended = if timed_out {
                format!("timed out after {} s", row.timeout.as_secs())
            } else if let Some(sig) = status.and_then(|s| s.signal()) {
                format!("killed by {}", signal_name(sig))
            } else if let Some(code) = status.and_then(|s| s.code()) {
                format!("exit code {code}")
            } else {
                "no result".into()
            };
            // The child's own word: a Rust panic's message (may: "failed to alloc sys
            // stack: ... Cannot allocate memory"), else the last line of its stderr.
            let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
            let said = lines
                .clone()
                .skip_while(|l| !l.contains("panicked at"))
                .nth(1)
                .or_else(|| lines.rfind(|l| !l.starts_with("note:")))
                .map(|l| l.chars().take(160).collect::<String>());
            Outcome::Failed {
                reason: match said {
                    Some(s) => format!("{ended}: {s}"),
                    None => ended,
                },
                progress,
            }
        }
    }
}

/// The samples of one contender in one row.
struct Series {
    lib: Lib,
    n: u64,
    /// Per round; `None` where it was not run or failed.
    samples: Vec<Option<f64>>,
    failure: Option<(String, Option<(u64, f64)>)>,
    /// Why it was not run at all.
    skipped: Option<String>,
}

impl Series {
    fn ok(&self) -> Vec<f64> {
        self.samples.iter().flatten().copied().collect()
    }
    fn median(&self) -> Option<f64> {
        let mut v = self.ok();
        (!v.is_empty()).then(|| median(&mut v))
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median over the rounds where both ran of a / b in that round.
fn paired_ratio(a: &Series, b: &Series) -> Option<f64> {
    let mut r: Vec<f64> = a
        .samples
        .iter()
        .zip(&b.samples)
        .filter_map(|(x, y)| Some((*x)? / (*y)?))
        .collect();
    (!r.is_empty()).then(|| median(&mut r))
}

fn measure_row(row: &Row, opts: &Options, peers: &Peers) -> Vec<Series> {
    let n = if opts.quick { row.n_quick } else { row.n };
    let rounds = opts.rounds.unwrap_or(if opts.quick {
        row.rounds_quick
    } else {
        row.rounds
    });
    let mut series: Vec<Series> = ALL_LIBS
        .iter()
        .map(|&lib| Series {
            lib,
            n: n_for(lib, row, n),
            samples: vec![None; rounds],
            failure: None,
            skipped: if !opts.libs.contains(&lib) {
                Some("not selected (--libs)".into())
            } else {
                peers.available(lib).err()
            },
        })
        .collect();
    let active: Vec<usize> = (0..series.len())
        .filter(|&i| series[i].skipped.is_none())
        .collect();
    for round in 0..rounds {
        eprint!("  round {}/{rounds}:", round + 1);
        for k in 0..active.len() {
            let s = &mut series[active[(round + k) % active.len()]];
            // A contender that failed once (may's ENOMEM) is not run again in this row.
            if s.failure.is_some() {
                continue;
            }
            eprint!(" {}", s.lib.key());
            match measure(peers, s.lib, row, s.n) {
                Outcome::Ok(v) => s.samples[round] = Some(v),
                Outcome::Failed { reason, progress } => {
                    eprint!("(failed)");
                    s.failure = Some((reason, progress));
                }
            }
        }
        eprintln!();
    }
    series
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn fmt_count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(100_000) {
        format!("{}M", n as f64 / 1e6)
    } else if n >= 1_000 && n.is_multiple_of(100) {
        format!("{}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

fn fmt_ratio(r: f64) -> String {
    format!("{r:.2}x")
}

/// One contender's cell of the table.
fn cell(row: &Row, s: &Series, row_n: u64) -> String {
    if s.skipped.is_some() {
        return "-".into();
    }
    let at = if s.n != row_n {
        format!(" (at {})", fmt_count(s.n))
    } else {
        String::new()
    };
    match (row.kind, s.median(), &s.failure) {
        (Kind::Time, Some(m), None) => format!("{}{at}", fmt_ns(m)),
        (Kind::Rss, Some(m), None) => format!("{m:.2} KiB{at}"),
        (_, Some(m), Some(_)) => format!(
            "{} then fails{at}",
            if row.kind == Kind::Time {
                fmt_ns(m)
            } else {
                format!("{m:.2} KiB")
            }
        ),
        (Kind::Rss, None, Some((reason, progress))) => {
            let how = short_failure(reason);
            match progress {
                Some((k, kib)) => format!("{kib:.2} KiB at {}, then {how}", fmt_count(*k)),
                None => how,
            }
        }
        (Kind::Time, None, Some((reason, _))) => short_failure(reason),
        (_, None, None) => "-".into(),
    }
}

/// "aborts (ENOMEM)"-style summary of a failure, for the table; the full text is below it.
fn short_failure(reason: &str) -> String {
    let what = if reason.starts_with("timed out") {
        "times out"
    } else if reason.starts_with("killed by SIGABRT") {
        "aborts"
    } else if reason.starts_with("killed by") {
        "crashes"
    } else {
        "fails"
    };
    let lower = reason.to_lowercase();
    let why = if lower.contains("cannot allocate memory")
        || lower.contains("enomem")
        || lower.contains("os error 12")
    {
        " (ENOMEM)"
    } else if lower.contains("alloc") {
        " (allocation failed)"
    } else {
        ""
    };
    format!("{what}{why}")
}

fn run_harness(opts: &Options) {
    let me = std::env::current_exe().expect("own path");
    let dir = peers_dir(&me);
    std::fs::create_dir_all(&dir).expect("create the peers directory");
    let peers = Peers {
        go: build_go(&dir),
        boost: build_boost(&dir),
        me,
    };
    print_header(opts, &peers);

    let rows: Vec<&Row> = ROWS
        .iter()
        .filter(|r| opts.only.as_deref().is_none_or(|k| r.key == k))
        .collect();
    let mut table = String::new();
    let mut notes = String::new();
    table.push_str(
        "| benchmark | fibra | Go | tokio | may | Boost.Fiber (1 thread / 2 threads) | fibra/Go | fibra/may | target | met? |\n",
    );
    table.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n");
    for row in rows {
        let n = if opts.quick { row.n_quick } else { row.n };
        eprintln!("measuring {} (N = {}) ...", row.key, fmt_count(n));
        let series = measure_row(row, opts, &peers);
        let get = |lib: Lib| series.iter().find(|s| s.lib == lib).expect("every lib");
        let fibra = get(Lib::Fibra);
        let ratio_to = |lib: Lib| -> String {
            if row.kind == Kind::Rss {
                // Of the medians: the RSS figures hardly move between rounds.
                let (Some(f), Some(p)) = (fibra.median(), get(lib).median()) else {
                    return "-".into();
                };
                if fibra.failure.is_some() || get(lib).failure.is_some() {
                    return "-".into();
                }
                return fmt_ratio(f / p);
            }
            paired_ratio(fibra, get(lib)).map_or("-".into(), fmt_ratio)
        };
        let (target, met) = match row.target {
            Target::RatioTo(peer, max) => {
                let name = if peer == Lib::Go { "Go" } else { "may" };
                let met = paired_ratio(fibra, get(peer)).map_or("-", |r| {
                    // Judged at the two decimals shown.
                    if (r * 100.0).round() / 100.0 <= max {
                        "yes"
                    } else {
                        "**no**"
                    }
                });
                (format!("fibra <= {max}x {name}"), met)
            }
            Target::Kib(max) => {
                let met = match (fibra.skipped.is_some(), fibra.median(), &fibra.failure) {
                    (true, _, _) => "-",
                    (false, Some(kib), None) if kib <= max => "yes",
                    _ => "**no**",
                };
                (format!("fibra <= {max} KiB, {} reached", fmt_count(n)), met)
            }
        };
        let boost = {
            let (b1, b2) = (get(Lib::Boost1), get(Lib::Boost2));
            if b1.skipped.is_some() && b2.skipped.is_some() {
                "-".into()
            } else {
                format!("{} / {}", cell(row, b1, n), cell(row, b2, n))
            }
        };
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row_name(row, n),
            cell(row, fibra, n),
            cell(row, get(Lib::Go), n),
            cell(row, get(Lib::Tokio), n),
            cell(row, get(Lib::May), n),
            boost,
            ratio_to(Lib::Go),
            ratio_to(Lib::May),
            target,
            met
        );
        let _ = writeln!(notes, "- {} (`{}`):", row_name(row, n), row.key);
        for s in &series {
            let _ = write!(notes, "    {:<7} {:<80} ", s.lib.key(), what(s.lib, row));
            if let Some(why) = &s.skipped {
                let _ = writeln!(notes, "{why}");
                continue;
            }
            let mut ok = s.ok();
            if !ok.is_empty() {
                let med = median(&mut ok);
                let unit = |v: f64| match row.kind {
                    Kind::Time => fmt_ns(v),
                    Kind::Rss => format!("{v:.2} KiB"),
                };
                let iqr = {
                    let q = |p: f64| ok[((ok.len() - 1) as f64 * p).round() as usize];
                    (q(0.75) - q(0.25)) / med * 100.0
                };
                let _ = write!(
                    notes,
                    "median {} min {} max {} IQR {iqr:.1}% ({} rounds, N = {})",
                    unit(med),
                    unit(ok[0]),
                    unit(ok[ok.len() - 1]),
                    ok.len(),
                    fmt_count(s.n)
                );
            }
            if let Some((reason, progress)) = &s.failure {
                let _ = write!(notes, "FAILED (N = {}): {reason}", fmt_count(s.n));
                if let Some((k, kib)) = progress {
                    let _ = write!(notes, "; last report: {k} parked at {kib:.2} KiB each");
                }
            }
            let _ = writeln!(notes);
        }
    }
    println!();
    print!("{table}");
    println!();
    println!("Per contender: what runs, and the spread of its rounds:");
    print!("{notes}");
    println!("load at the end: {}", load_average());
}

fn print_header(opts: &Options, peers: &Peers) {
    println!("fibra runtime peer benchmark");
    println!("machine: {}", machine_line());
    println!("rustc:   {}", env!("BENCH_RUSTC_VERSION"));
    if let Some(rev) = fibra_revision() {
        println!(
            "fibra:   {rev}{}",
            if cfg!(feature = "fibra-runtime") {
                ""
            } else {
                " (column off: build with --features fibra-runtime)"
            }
        );
    }
    let lock = include_str!("../../../Cargo.lock");
    let version = |name: &str| {
        let mut lines = lock.lines();
        lines
            .find(|l| *l == format!("name = \"{name}\""))
            .and_then(|_| lines.next())
            .and_then(|l| l.strip_prefix("version = \""))
            .map(|v| v.trim_end_matches('"').to_string())
            .unwrap_or_else(|| "?".into())
    };
    println!(
        "peers:   tokio {} (multi_thread, 2 workers), may {} (2 workers, default 32 KiB stacks)",
        version("tokio"),
        version("may")
    );
    match &peers.go {
        Ok(_) => println!(
            "         {} (GOMAXPROCS=2)",
            command_output(Command::new("go").arg("version")).unwrap_or_else(|e| e)
        ),
        Err(e) => println!("         Go: {e}"),
    }
    match &peers.boost {
        Ok(exe) => println!(
            "         {}, g++ {} -O2; 1 thread = round_robin, 2 threads = work_stealing",
            command_output(Command::new(exe).arg("version")).unwrap_or_else(|e| e),
            command_output(Command::new("g++").arg("-dumpfullversion")).unwrap_or_default()
        ),
        Err(e) => println!("         Boost.Fiber: {e}"),
    }
    println!(
        "load:    {} (1, 5, 15-minute load averages at the start)",
        load_average()
    );
    println!(
        "method:  one child process per measurement, interleaved rounds (order rotates each round), \
         medians; fibra/Go and fibra/may are medians of per-round ratios (RSS: of the medians){}",
        if opts.quick { "; --quick" } else { "" }
    );
}

/// The first three fields of /proc/loadavg: other work on this 2-CPU machine shows up
/// in every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `<model name> (family F model M stepping S, <N> logical CPUs, <MHz> MHz), <kernel>`
/// from /proc (as in the coroutine harness, src/main.rs).
fn machine_line() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let model = field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let mhz = field("cpu MHz")
        .map(|m| format!(", {m} MHz"))
        .unwrap_or_default();
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string());
    let kernel = kernel.map(|k| format!(", Linux {k}")).unwrap_or_default();
    let fms = match (field("cpu family"), field("model"), field("stepping")) {
        (Some(f), Some(m), Some(s)) => format!("family {f} model {m} stepping {s}, "),
        _ => String::new(),
    };
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kib: u64 = m
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some(format!(", {:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        })
        .unwrap_or_default();
    let maps = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .map(|s| format!(", vm.max_map_count {}", s.trim()))
        .unwrap_or_default();
    format!("{model} ({fms}{cpus} logical CPUs{mhz}{mem}){kernel}{maps}")
}

/// The fibra checkout's commit, if git is at hand.
fn fibra_revision() -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let rev =
        command_output(Command::new("git").args(["-C", root, "rev-parse", "--short", "HEAD"]))
            .ok()
            .filter(|r| !r.is_empty())?;
    let dirty = command_output(Command::new("git").args([
        "-C",
        root,
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        "src",
        "asm",
        "build.rs",
    ]))
    .is_ok_and(|o| !o.is_empty());
    Some(if dirty {
        format!("{rev} + uncommitted changes in src/ asm/")
    } else {
        rev
    })
}
