//! What the peer harnesses share (`src/bin/runtime/` and `src/bin/sync/` include this file
//! with `#[path]`): building the Go and Boost peers, running one measurement in a child
//! process with a time limit and reading its `result key=value ...` line, interleaved
//! rounds in a rotating order, medians and per-round ratios, the formatting of the table's
//! cells, the command line, and the report's header (machine, compiler, fibra's commit,
//! peer versions, load).
//!
//! Each binary keeps its own rows, contenders, table columns and notes.

// Each binary uses a different part of it.
#![allow(dead_code)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One contender of a harness (a library, or a configuration of one).
pub(crate) trait Contender: Copy + Eq + 'static {
    /// Its key on the command line (`--libs`, `--child`) and in the notes.
    fn key(self) -> &'static str;
}

// ---------------------------------------------------------------------------------------
// The command line

/// Options every harness takes.
pub(crate) struct Options<L> {
    pub(crate) quick: bool,
    pub(crate) rounds: Option<usize>,
    /// The key of the one row to run.
    pub(crate) only: Option<String>,
    pub(crate) libs: Vec<L>,
}

/// What the command line asks for.
pub(crate) enum Invocation<L> {
    Harness(Options<L>),
    /// `--child LIB ROW N`: run one measurement in this process.
    Child {
        lib: String,
        row: String,
        n: u64,
    },
}

/// The command line's grammar, for one harness binary.
pub(crate) struct Cli<'a, L> {
    /// The binary's name, for the usage line.
    pub(crate) name: &'a str,
    pub(crate) rows: &'a [&'a str],
    pub(crate) libs: &'a [L],
}

impl<L: Contender> Cli<'_, L> {
    pub(crate) fn usage(&self) -> ! {
        eprintln!(
            "usage: {name} [--quick] [--rounds N] [--only ROW] [--libs LIB,LIB...]\n\
             \x20      {name} --child LIB ROW N\n\
             ROW: {}; LIB: {}",
            self.rows.join(", "),
            self.libs
                .iter()
                .map(|l| l.key())
                .collect::<Vec<_>>()
                .join(", "),
            name = self.name,
        );
        std::process::exit(2)
    }

    pub(crate) fn lib(&self, key: &str) -> Option<L> {
        self.libs.iter().copied().find(|l| l.key() == key)
    }

    pub(crate) fn parse(&self, args: impl IntoIterator<Item = String>) -> Invocation<L> {
        let mut args = args.into_iter();
        let mut opts = Options {
            quick: false,
            rounds: None,
            only: None,
            libs: self.libs.to_vec(),
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => opts.quick = true,
                "--rounds" => {
                    opts.rounds = Some(
                        args.next()
                            .and_then(|s| s.parse().ok())
                            .filter(|&r| r > 0)
                            .unwrap_or_else(|| self.usage()),
                    )
                }
                "--only" => {
                    let key = args.next().unwrap_or_else(|| self.usage());
                    if !self.rows.contains(&key.as_str()) {
                        self.usage();
                    }
                    opts.only = Some(key);
                }
                "--libs" => {
                    let list = args.next().unwrap_or_else(|| self.usage());
                    opts.libs = list
                        .split(',')
                        .map(|k| self.lib(k).unwrap_or_else(|| self.usage()))
                        .collect();
                }
                "--child" => {
                    let lib = args.next().unwrap_or_else(|| self.usage());
                    let row = args.next().unwrap_or_else(|| self.usage());
                    let n = args
                        .next()
                        .and_then(|s| s.parse().ok())
                        .filter(|&n| n > 0)
                        .unwrap_or_else(|| self.usage());
                    return Invocation::Child { lib, row, n };
                }
                "-h" | "--help" => self.usage(),
                // `cargo bench` passes it.
                "--bench" => {}
                _ => self.usage(),
            }
        }
        Invocation::Harness(opts)
    }
}

// ---------------------------------------------------------------------------------------
// The peers written in other languages

/// The directory the peer programs are built into: `peers/` next to this binary (so
/// under `$CARGO_TARGET_DIR/release/` or `bench/target/release/`).
pub(crate) fn peers_dir(me: &Path) -> PathBuf {
    me.parent().expect("binary in a directory").join("peers")
}

fn is_stale(output: &Path, source: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (mtime(output), mtime(source)) {
        (Some(out), Some(src)) => out < src,
        _ => true,
    }
}

pub(crate) fn command_output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Builds `go/<source>` into `dir/<exe>` with `go build` (when the program is older than
/// its source); `Err` says why the Go column is skipped.
pub(crate) fn build_go(dir: &Path, source: &str, exe: &str) -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("go")
        .join(source);
    let exe = dir.join(exe);
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

/// Builds `boost/<source>` into `dir/<exe>` with `g++ -O2` (when the program is older than
/// its source or `boost/common.hpp`); `Err` says why the Boost.Fiber column is skipped.
pub(crate) fn build_boost(dir: &Path, source: &str, exe: &str) -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("boost")
        .join(source);
    let exe = dir.join(exe);
    if !Path::new("/usr/include/boost/fiber/all.hpp").exists() {
        return Err(
            "skipped: Boost.Fiber not installed (apt-get install libboost-fiber-dev)".into(),
        );
    }
    // The peers include boost/common.hpp.
    let header = source.with_file_name("common.hpp");
    if is_stale(&exe, &source) || is_stale(&exe, &header) {
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

/// How to start the contenders' child processes: this binary again for the Rust ones,
/// the built programs for Go and Boost.Fiber (`Err`: why that column is skipped).
pub(crate) struct Peers {
    pub(crate) me: PathBuf,
    pub(crate) go: Result<PathBuf, String>,
    pub(crate) boost: Result<PathBuf, String>,
}

impl Peers {
    /// Builds (when stale) `go/<name>.go` and `boost/<name>.cpp` into the peers directory
    /// next to this binary, as `<name>-go` and `<name>-boost`.
    pub(crate) fn build(name: &str) -> Peers {
        let me = std::env::current_exe().expect("own path");
        let dir = peers_dir(&me);
        std::fs::create_dir_all(&dir).expect("create the peers directory");
        Peers {
            go: build_go(&dir, &format!("{name}.go"), &format!("{name}-go")),
            boost: build_boost(&dir, &format!("{name}.cpp"), &format!("{name}-boost")),
            me,
        }
    }

    /// `<name>-go ROW N` with GOMAXPROCS=2.
    pub(crate) fn go_command(&self, row: &str, n: u64) -> Command {
        let mut cmd = Command::new(self.go.as_ref().expect("Go peer built"));
        cmd.args([row, &n.to_string()]).env("GOMAXPROCS", "2");
        cmd
    }

    /// `<name>-boost ROW N THREADS`.
    pub(crate) fn boost_command(&self, row: &str, n: u64, threads: u32) -> Command {
        let mut cmd = Command::new(self.boost.as_ref().expect("Boost peer built"));
        cmd.args([row, &n.to_string(), &threads.to_string()]);
        cmd
    }

    /// This binary as `--child LIB ROW N`.
    pub(crate) fn child_command(&self, lib: &str, row: &str, n: u64) -> Command {
        let mut cmd = Command::new(&self.me);
        cmd.args(["--child", lib, row, &n.to_string()])
            .env("RUST_BACKTRACE", "0");
        cmd
    }
}

// ---------------------------------------------------------------------------------------
// One measurement: a child process

/// What one child process reported.
pub(crate) enum Outcome {
    /// The value of the asked-for key of its `result` line.
    Ok(f64),
    Failed(Failure),
}

#[derive(Clone)]
pub(crate) struct Failure {
    /// How it ended: exit code, signal, time-out, or the last line of its stderr.
    pub(crate) reason: String,
    /// Its last `progress` or `result` line, if any.
    pub(crate) last_report: Option<String>,
}

/// The `key=value` fields of a `result`/`progress` line.
pub(crate) fn fields(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|f| f.split_once('='))
}

pub(crate) fn field(line: &str, key: &str) -> Option<f64> {
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

/// Runs one measurement in a child process with a time limit and returns the `key` field
/// of the last `result` line it printed. The child must exit 0, unless
/// `result_counts_on_failure` (a child that printed its result and then failed while
/// tearing down still measured what it was asked to measure).
pub(crate) fn run_child(
    cmd: &mut Command,
    timeout: Duration,
    key: &str,
    result_counts_on_failure: bool,
) -> Outcome {
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Failed(Failure {
                reason: format!("cannot start: {e}"),
                last_report: None,
            });
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
    let deadline = Instant::now() + timeout;
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
    let last_report = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("progress ") || l.starts_with("result "))
        .map(str::to_string);
    let value = result.and_then(|l| field(l, key));
    let success = status.is_some_and(|s| s.success());
    match value {
        Some(v) if success || result_counts_on_failure => Outcome::Ok(v),
        _ => {
            use std::os::unix::process::ExitStatusExt as _;
            let ended = if timed_out {
                format!("timed out after {} s", timeout.as_secs())
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
            Outcome::Failed(Failure {
                reason: match said {
                    Some(s) => format!("{ended}: {s}"),
                    None => ended,
                },
                last_report,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rounds, medians, ratios

/// The samples of one contender in one row.
pub(crate) struct Series<L> {
    pub(crate) lib: L,
    /// The work it was given (it may differ from the row's N).
    pub(crate) n: u64,
    /// Per round; `None` where it was not run or failed.
    pub(crate) samples: Vec<Option<f64>>,
    pub(crate) failure: Option<Failure>,
    /// Why it was not run at all.
    pub(crate) skipped: Option<String>,
}

impl<L: Contender> Series<L> {
    pub(crate) fn new(lib: L, n: u64, rounds: usize, skipped: Option<String>) -> Self {
        Series {
            lib,
            n,
            samples: vec![None; rounds],
            failure: None,
            skipped,
        }
    }
    pub(crate) fn ok(&self) -> Vec<f64> {
        self.samples.iter().flatten().copied().collect()
    }
    pub(crate) fn median(&self) -> Option<f64> {
        let mut v = self.ok();
        (!v.is_empty()).then(|| median(&mut v))
    }
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median over the rounds where both ran of a / b in that round.
pub(crate) fn paired_ratio<L>(a: &Series<L>, b: &Series<L>) -> Option<f64> {
    let mut r: Vec<f64> = a
        .samples
        .iter()
        .zip(&b.samples)
        .filter_map(|(x, y)| Some((*x)? / (*y)?))
        .collect();
    (!r.is_empty()).then(|| median(&mut r))
}

/// Runs the rounds of one row: in each, every contender that is neither skipped nor
/// failed is measured once, in an order that rotates by one every round. A contender
/// that fails once is not run again in the row. Progress goes to stderr.
pub(crate) fn run_rounds<L: Contender>(
    series: &mut [Series<L>],
    mut measure: impl FnMut(L, u64) -> Outcome,
) {
    let rounds = series.first().map_or(0, |s| s.samples.len());
    let active: Vec<usize> = (0..series.len())
        .filter(|&i| series[i].skipped.is_none())
        .collect();
    for round in 0..rounds {
        eprint!("  round {}/{rounds}:", round + 1);
        for k in 0..active.len() {
            let s = &mut series[active[(round + k) % active.len()]];
            if s.failure.is_some() {
                continue;
            }
            eprint!(" {}", s.lib.key());
            match measure(s.lib, s.n) {
                Outcome::Ok(v) => s.samples[round] = Some(v),
                Outcome::Failed(f) => {
                    eprint!("(failed)");
                    s.failure = Some(f);
                }
            }
        }
        eprintln!();
    }
}

/// "yes" or "**no**": a ratio judged at the two decimals shown.
pub(crate) fn met_ratio(ratio: f64, max: f64) -> &'static str {
    if (ratio * 100.0).round() / 100.0 <= max {
        "yes"
    } else {
        "**no**"
    }
}

/// The spread of one contender's rounds for the notes under the table: "median .. min ..
/// max .. IQR ..% (k rounds, N = ..)", or the reason it was skipped, then its failure.
/// `last_report` turns the last `progress`/`result` line of a failed child into a note.
pub(crate) fn spread_note<L: Contender>(
    s: &Series<L>,
    unit: impl Fn(f64) -> String,
    last_report: impl Fn(&str) -> Option<String>,
) -> String {
    if let Some(why) = &s.skipped {
        return why.clone();
    }
    let mut note = String::new();
    let mut ok = s.ok();
    if !ok.is_empty() {
        let med = median(&mut ok);
        let iqr = {
            let q = |p: f64| ok[((ok.len() - 1) as f64 * p).round() as usize];
            (q(0.75) - q(0.25)) / med * 100.0
        };
        note.push_str(&format!(
            "median {} min {} max {} IQR {iqr:.1}% ({} rounds, N = {})",
            unit(med),
            unit(ok[0]),
            unit(ok[ok.len() - 1]),
            ok.len(),
            fmt_count(s.n)
        ));
    }
    if let Some(f) = &s.failure {
        note.push_str(&format!("FAILED (N = {}): {}", fmt_count(s.n), f.reason));
        if let Some(extra) = f.last_report.as_deref().and_then(&last_report) {
            note.push_str("; ");
            note.push_str(&extra);
        }
    }
    note
}

// ---------------------------------------------------------------------------------------
// Formatting

pub(crate) fn ns_per(elapsed: Duration, ops: u64) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

pub(crate) fn fmt_count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(100_000) {
        format!("{}M", n as f64 / 1e6)
    } else if n >= 1_000 && n.is_multiple_of(100) {
        format!("{}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

pub(crate) fn fmt_ratio(r: f64) -> String {
    format!("{r:.2}x")
}

/// "aborts (ENOMEM)"-style summary of a failure, for the table; the full text is below it.
pub(crate) fn short_failure(reason: &str) -> String {
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

/// The end of every report: the table, the notes per contender, the load at the end.
pub(crate) fn print_report(table: &str, notes: &str) {
    println!();
    print!("{table}");
    println!();
    println!("Per contender: what runs, and the spread of its rounds:");
    print!("{notes}");
    println!("load at the end: {}", load_average());
}

// ---------------------------------------------------------------------------------------
// The report's header

/// The header's lines up to the peers: title, machine, compiler, fibra's commit followed by
/// `fibra_note` (such as which of fibra's cells are off, and why).
pub(crate) fn print_header_start(title: &str, fibra_note: &str) {
    println!("{title}");
    println!("machine: {}", machine_line());
    println!("rustc:   {}", env!("BENCH_RUSTC_VERSION"));
    if let Some(rev) = fibra_revision() {
        println!("fibra:   {rev}{fibra_note}");
    }
}

/// The header's lines for Go and Boost.Fiber.
pub(crate) fn print_external_peers(go: &Result<PathBuf, String>, boost: &Result<PathBuf, String>) {
    match go {
        Ok(_) => println!(
            "         {} (GOMAXPROCS=2)",
            command_output(Command::new("go").arg("version")).unwrap_or_else(|e| e)
        ),
        Err(e) => println!("         Go: {e}"),
    }
    match boost {
        Ok(exe) => println!(
            "         {}, g++ {} -O2; 1 thread = round_robin, 2 threads = work_stealing",
            command_output(Command::new(exe).arg("version")).unwrap_or_else(|e| e),
            command_output(Command::new("g++").arg("-dumpfullversion")).unwrap_or_default()
        ),
        Err(e) => println!("         Boost.Fiber: {e}"),
    }
}

/// The load line of the header.
pub(crate) fn print_load() {
    println!(
        "load:    {} (1, 5, 15-minute load averages at the start)",
        load_average()
    );
}

/// The version of a crate in the bench's Cargo.lock.
pub(crate) fn crate_version(name: &str) -> String {
    let lock = include_str!("../Cargo.lock");
    let mut lines = lock.lines();
    lines
        .find(|l| *l == format!("name = \"{name}\""))
        .and_then(|_| lines.next())
        .and_then(|l| l.strip_prefix("version = \""))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "?".into())
}

/// The first three fields of /proc/loadavg: other work on this 2-CPU machine shows up
/// in every figure.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `<model name> (family F model M stepping S, <N> logical CPUs, <MHz> MHz), <kernel>`
/// from /proc (as in the coroutine harness, src/main.rs).
pub(crate) fn machine_line() -> String {
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
pub(crate) fn fibra_revision() -> Option<String> {
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
