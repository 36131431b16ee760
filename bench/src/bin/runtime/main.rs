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
#[path = "../../harness.rs"]
mod harness;
mod may_rt;
mod tokio_rt;

use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) use harness::ns_per;
use harness::{
    Cli, Contender, Failure, Invocation, Options, Outcome, Peers, Series, field, fmt_count, fmt_ns,
    fmt_ratio, met_ratio, paired_ratio, run_rounds, short_failure, spread_note,
};

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

impl Contender for Lib {
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
            "fibers waiting on one manual-reset fibra::sync::Event, set at the end"
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
    let lib = CLI.lib(lib).unwrap_or_else(|| usage());
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

const ROW_KEYS: [&str; 4] = ["spawn_join", "yield", "skynet", "parked"];

const CLI: Cli<'static, Lib> = Cli {
    name: "runtime",
    rows: &ROW_KEYS,
    libs: &ALL_LIBS,
};

fn usage() -> ! {
    CLI.usage()
}

fn main() {
    match CLI.parse(std::env::args().skip(1)) {
        Invocation::Child { lib, row, n } => run_child(&lib, &row, n),
        Invocation::Harness(opts) => run_harness(&opts, &Peers::build("runtime")),
    }
}

fn available(peers: &Peers, lib: Lib) -> Result<(), String> {
    match lib {
        Lib::Fibra if !cfg!(feature = "fibra-runtime") => {
            Err("not built (needs `--features fibra-runtime`)".into())
        }
        Lib::Go => peers.go.as_ref().map(|_| ()).map_err(Clone::clone),
        Lib::Boost1 | Lib::Boost2 => peers.boost.as_ref().map(|_| ()).map_err(Clone::clone),
        _ => Ok(()),
    }
}

fn command(peers: &Peers, lib: Lib, bench: &str, n: u64) -> Command {
    match lib {
        Lib::Go => peers.go_command(bench, n),
        Lib::Boost1 => peers.boost_command(bench, n, 1),
        Lib::Boost2 => peers.boost_command(bench, n, 2),
        _ => peers.child_command(lib.key(), bench, n),
    }
}

/// Runs one measurement in a child process with a time limit.
fn measure(peers: &Peers, lib: Lib, row: &Row, n: u64) -> Outcome {
    let key = match row.kind {
        Kind::Time => "ns_per_op",
        Kind::Rss => "kib_per_fiber",
    };
    // A parked child that printed its result and then failed while releasing the fibers
    // still measured what it was asked to measure; anything else must exit 0.
    harness::run_child(
        &mut command(peers, lib, row.key, n),
        row.timeout,
        key,
        row.kind == Kind::Rss,
    )
}

/// The parked row's last report of a failed child: (fibers parked, KiB per fiber).
fn progress(f: &Failure) -> Option<(u64, f64)> {
    let l = f.last_report.as_deref()?;
    Some((field(l, "parked")? as u64, field(l, "kib_per_fiber")?))
}

fn measure_row(row: &Row, opts: &Options<Lib>, peers: &Peers) -> Vec<Series<Lib>> {
    let n = if opts.quick { row.n_quick } else { row.n };
    let rounds = opts.rounds.unwrap_or(if opts.quick {
        row.rounds_quick
    } else {
        row.rounds
    });
    let mut series: Vec<Series<Lib>> = ALL_LIBS
        .iter()
        .map(|&lib| {
            let skipped = if !opts.libs.contains(&lib) {
                Some("not selected (--libs)".into())
            } else {
                available(peers, lib).err()
            };
            Series::new(lib, n_for(lib, row, n), rounds, skipped)
        })
        .collect();
    run_rounds(&mut series, |lib, n| measure(peers, lib, row, n));
    series
}

/// One contender's cell of the table.
fn cell(row: &Row, s: &Series<Lib>, row_n: u64) -> String {
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
        (Kind::Rss, None, Some(f)) => {
            let how = short_failure(&f.reason);
            match progress(f) {
                Some((k, kib)) => format!("{kib:.2} KiB at {}, then {how}", fmt_count(k)),
                None => how,
            }
        }
        (Kind::Time, None, Some(f)) => short_failure(&f.reason),
        (_, None, None) => "-".into(),
    }
}

fn run_harness(opts: &Options<Lib>, peers: &Peers) {
    print_header(opts, peers);

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
        let series = measure_row(row, opts, peers);
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
                let met = paired_ratio(fibra, get(peer)).map_or("-", |r| met_ratio(r, max));
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
            let unit = |v: f64| match row.kind {
                Kind::Time => fmt_ns(v),
                Kind::Rss => format!("{v:.2} KiB"),
            };
            let last_report = |l: &str| {
                let (k, kib) = (field(l, "parked")? as u64, field(l, "kib_per_fiber")?);
                Some(format!("last report: {k} parked at {kib:.2} KiB each"))
            };
            let _ = writeln!(
                notes,
                "    {:<7} {:<80} {}",
                s.lib.key(),
                what(s.lib, row),
                spread_note(s, unit, last_report)
            );
        }
    }
    harness::print_report(&table, &notes);
}

fn print_header(opts: &Options<Lib>, peers: &Peers) {
    harness::print_header_start(
        "fibra runtime peer benchmark",
        if cfg!(feature = "fibra-runtime") {
            ""
        } else {
            " (column off: build with --features fibra-runtime)"
        },
    );
    println!(
        "peers:   tokio {} (multi_thread, 2 workers), may {} (2 workers, default 32 KiB stacks)",
        harness::crate_version("tokio"),
        harness::crate_version("may")
    );
    harness::print_external_peers(&peers.go, &peers.boost);
    harness::print_load();
    println!(
        "method:  one child process per measurement, interleaved rounds (order rotates each round), \
         medians; fibra/Go and fibra/may are medians of per-round ratios (RSS: of the medians){}",
        if opts.quick { "; --quick" } else { "" }
    );
}
