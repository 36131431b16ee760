//! Side-by-side benchmark of fibra's fiber-aware synchronisation (`fibra::channel`,
//! `fibra::sync::Mutex`) against Go, tokio, may and Boost.Fiber, and of fibra's bounded
//! channel against crossbeam-channel between OS threads. See ../../../README.md, "Sync
//! peers".
//!
//! The method is the runtime harness's (`src/bin/runtime/`), with the same shared code
//! (`src/harness.rs`): every measurement is a fresh child process (this binary again as
//! `--child LIB ROW N` for fibra, tokio, may and crossbeam; `go/sync.go` and
//! `boost/sync.cpp`, built into the target directory, for Go and Boost.Fiber), each
//! printing `result ns_per_op=...`; rounds are interleaved in a rotating order; the table
//! shows medians, and fibra's ratios are medians of per-round ratios.

mod crossbeam_sync;
#[cfg(feature = "fibra-runtime")]
mod fibra_sync;
#[path = "../../harness.rs"]
mod harness;
mod may_sync;
mod tokio_sync;

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

pub(crate) use harness::ns_per;
use harness::{
    Cli, Contender, Invocation, Options, Outcome, Peers, Series, fmt_count, fmt_ns, fmt_ratio,
    met_ratio, paired_ratio, run_rounds, short_failure, spread_note,
};

/// Fibers (tasks, goroutines, threads) of the mutex row, and producers (and as many
/// consumers) of the throughput row.
pub(crate) const WORKERS: u64 = 4;
/// The throughput row's channel capacity (a power of two, for Boost's buffered_channel).
pub(crate) const CAPACITY: usize = 1024;

// ---------------------------------------------------------------------------------------
// The contenders

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    Fibra,
    Go,
    Tokio,
    May,
    /// Boost.Fiber on one thread (round_robin).
    Boost1,
    /// Boost.Fiber on two threads (work_stealing), like everyone else's two workers.
    Boost2,
    /// crossbeam-channel between OS threads: the throughput row's reference.
    Crossbeam,
}

const ALL_LIBS: [Lib; 7] = [
    Lib::Fibra,
    Lib::Go,
    Lib::Tokio,
    Lib::May,
    Lib::Boost1,
    Lib::Boost2,
    Lib::Crossbeam,
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
            Lib::Crossbeam => "crossbeam",
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rows

struct Row {
    key: &'static str,
    /// N: round trips, increments, messages.
    n: u64,
    n_quick: u64,
    rounds: usize,
    rounds_quick: usize,
    /// Per child.
    timeout: Duration,
    /// fibra / that peer, per round, at most this.
    target: (Lib, f64),
    /// Whether fibra's cell needs `fibra::channel` (the `fibra-channel` feature).
    needs_channel: bool,
}

const ROWS: [Row; 3] = [
    Row {
        key: "ping_pong",
        n: 1_000_000,
        n_quick: 100_000,
        rounds: 11,
        rounds_quick: 3,
        timeout: Duration::from_secs(60),
        target: (Lib::Go, 0.5),
        needs_channel: true,
    },
    Row {
        key: "mutex",
        n: 4_000_000,
        n_quick: 400_000,
        rounds: 11,
        rounds_quick: 3,
        timeout: Duration::from_secs(60),
        target: (Lib::Go, 1.0),
        needs_channel: false,
    },
    Row {
        key: "throughput",
        n: 2_000_000,
        n_quick: 200_000,
        rounds: 11,
        rounds_quick: 3,
        timeout: Duration::from_secs(60),
        target: (Lib::Crossbeam, 1.0),
        needs_channel: true,
    },
];

const ROW_KEYS: [&str; 3] = ["ping_pong", "mutex", "throughput"];

fn row_name(row: &Row) -> &'static str {
    match row.key {
        "ping_pong" => "channel ping-pong, two fibers, per round trip",
        "mutex" => "mutex, 4 fibers x lock+increment, per increment",
        "throughput" => "bounded channel, 4 producers / 4 consumers, per message",
        _ => unreachable!(),
    }
}

/// Which contenders a row has: crossbeam (OS threads) is the throughput row's reference
/// only.
fn in_row(lib: Lib, row: &Row) -> bool {
    lib != Lib::Crossbeam || row.key == "throughput"
}

/// What exactly runs, shown under the table.
fn what(lib: Lib, row: &Row) -> &'static str {
    match (lib, row.key) {
        (Lib::Fibra, "ping_pong") => {
            "channel::bounded(0) x2 (rendezvous); a spawned pinger spawns the ponger with \
             Placement::NextToRun, so both run on one worker (fibra never migrates a started fiber)"
        }
        (Lib::Go, "ping_pong") => "unbuffered chan x2 (rendezvous); main goroutine and one other",
        (Lib::Tokio, "ping_pong") => {
            "tokio::sync::mpsc::channel(1) x2 (no rendezvous channel); two spawned tasks"
        }
        (Lib::May, "ping_pong") => {
            "may::sync::mpsc::channel() x2 (may has no bounded channel); two coroutines"
        }
        (Lib::Boost1 | Lib::Boost2, "ping_pong") => {
            "unbuffered_channel x2 (rendezvous); main fiber and one other"
        }
        (Lib::Fibra, "mutex") => "fibra::sync::Mutex<u64>; 4 fibra::spawn()ed fibers, joined",
        (Lib::Go, "mutex") => "sync.Mutex guarding a uint64; 4 goroutines, WaitGroup",
        (Lib::Tokio, "mutex") => "tokio::sync::Mutex<u64>, lock().await; 4 tokio::spawn()ed tasks",
        (Lib::May, "mutex") => "may::sync::Mutex<u64>; 4 go!() coroutines, joined",
        (Lib::Boost1 | Lib::Boost2, "mutex") => {
            "boost::fibers::mutex guarding a uint64_t; 4 fibers, joined"
        }
        (Lib::Fibra, "throughput") => "channel::bounded(1024); 8 fibra::spawn()ed fibers",
        (Lib::Go, "throughput") => {
            "make(chan uint64, 1024); 8 goroutines, closed after the producers"
        }
        (Lib::Tokio, "throughput") => {
            "async_channel::bounded(1024) (tokio's mpsc has one consumer); 8 tokio::spawn()ed tasks"
        }
        (Lib::May, "throughput") => {
            "may::sync::mpmc::channel(), UNBOUNDED (may has no bounded channel); 8 go!() coroutines"
        }
        (Lib::Boost1 | Lib::Boost2, "throughput") => {
            "buffered_channel(1024) (holds 1023); 8 fibers, closed after the producers"
        }
        (Lib::Crossbeam, "throughput") => {
            "crossbeam_channel::bounded(1024); 8 std::thread::spawn()ed threads"
        }
        (Lib::Crossbeam, _) => "",
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------
// Child side: run one measurement and print its result line

fn run_child(lib: &str, row: &str, n: u64) {
    let lib = CLI.lib(lib).unwrap_or_else(|| usage());
    if !ROW_KEYS.contains(&row) {
        usage();
    }
    assert!(
        row == "ping_pong" || n.is_multiple_of(WORKERS),
        "N must be a multiple of {WORKERS}"
    );
    let ns = match (lib, row) {
        (Lib::Tokio, "ping_pong") => tokio_sync::ping_pong(n),
        (Lib::Tokio, "mutex") => tokio_sync::mutex(n),
        (Lib::Tokio, "throughput") => tokio_sync::throughput(n),
        (Lib::May, "ping_pong") => may_sync::ping_pong(n),
        (Lib::May, "mutex") => may_sync::mutex(n),
        (Lib::May, "throughput") => may_sync::throughput(n),
        (Lib::Crossbeam, "throughput") => crossbeam_sync::throughput(n),
        #[cfg(feature = "fibra-channel")]
        (Lib::Fibra, "ping_pong") => fibra_sync::ping_pong(n),
        #[cfg(feature = "fibra-runtime")]
        (Lib::Fibra, "mutex") => fibra_sync::mutex(n),
        #[cfg(feature = "fibra-channel")]
        (Lib::Fibra, "throughput") => fibra_sync::throughput(n),
        (Lib::Fibra, _) => {
            eprintln!("this fibra cell needs the `fibra-channel` (or `fibra-runtime`) feature");
            std::process::exit(2)
        }
        (Lib::Crossbeam, _) => {
            eprintln!("crossbeam is the throughput row's reference only");
            std::process::exit(2)
        }
        _ => {
            eprintln!("{} runs as its own program, not as --child", lib.key());
            std::process::exit(2)
        }
    };
    println!("result ns_per_op={ns:.3}");
}

// ---------------------------------------------------------------------------------------
// Harness side

const CLI: Cli<'static, Lib> = Cli {
    name: "sync",
    rows: &ROW_KEYS,
    libs: &ALL_LIBS,
};

fn usage() -> ! {
    CLI.usage()
}

fn main() {
    match CLI.parse(std::env::args().skip(1)) {
        Invocation::Child { lib, row, n } => run_child(&lib, &row, n),
        Invocation::Harness(opts) => run_harness(&opts, &Peers::build("sync")),
    }
}

/// Why `lib` is not run in `row`, if it is not.
fn unavailable(peers: &Peers, lib: Lib, row: &Row) -> Option<String> {
    match lib {
        _ if !in_row(lib, row) => Some("not in this row".into()),
        Lib::Fibra if !cfg!(feature = "fibra-runtime") => {
            Some("not built (needs `--features fibra-runtime`)".into())
        }
        Lib::Fibra if row.needs_channel && !cfg!(feature = "fibra-channel") => {
            Some("not built (needs the `fibra-channel` feature, and fibra::channel)".into())
        }
        Lib::Go => peers.go.as_ref().err().cloned(),
        Lib::Boost1 | Lib::Boost2 => peers.boost.as_ref().err().cloned(),
        _ => None,
    }
}

fn command(peers: &Peers, lib: Lib, row: &str, n: u64) -> Command {
    match lib {
        Lib::Go => peers.go_command(row, n),
        Lib::Boost1 => peers.boost_command(row, n, 1),
        Lib::Boost2 => peers.boost_command(row, n, 2),
        _ => peers.child_command(lib.key(), row, n),
    }
}

fn measure(peers: &Peers, lib: Lib, row: &Row, n: u64) -> Outcome {
    harness::run_child(
        &mut command(peers, lib, row.key, n),
        row.timeout,
        "ns_per_op",
        false,
    )
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
                unavailable(peers, lib, row)
            };
            Series::new(lib, n, rounds, skipped)
        })
        .collect();
    run_rounds(&mut series, |lib, n| measure(peers, lib, row, n));
    series
}

/// One contender's cell of the table.
fn cell(s: &Series<Lib>) -> String {
    if s.skipped.is_some() {
        return "-".into();
    }
    match (s.median(), &s.failure) {
        (Some(m), None) => fmt_ns(m),
        (Some(m), Some(_)) => format!("{} then fails", fmt_ns(m)),
        (None, Some(f)) => short_failure(&f.reason),
        (None, None) => "-".into(),
    }
}

fn lib_name(lib: Lib) -> &'static str {
    match lib {
        Lib::Go => "Go",
        Lib::Crossbeam => "crossbeam",
        _ => lib.key(),
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
        "| benchmark | fibra | Go | tokio | may | Boost.Fiber (1 thread / 2 threads) | crossbeam (8 threads) | fibra/Go | fibra/crossbeam | target | met? |\n",
    );
    table.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n");
    for row in rows {
        let n = if opts.quick { row.n_quick } else { row.n };
        eprintln!("measuring {} (N = {}) ...", row.key, fmt_count(n));
        let series = measure_row(row, opts, peers);
        let get = |lib: Lib| series.iter().find(|s| s.lib == lib).expect("every lib");
        let fibra = get(Lib::Fibra);
        let ratio_to = |lib: Lib| paired_ratio(fibra, get(lib)).map_or("-".into(), fmt_ratio);
        let (peer, max) = row.target;
        let met = paired_ratio(fibra, get(peer)).map_or("-", |r| met_ratio(r, max));
        let target = format!("fibra <= {max:.1}x {}", lib_name(peer));
        let boost = {
            let (b1, b2) = (get(Lib::Boost1), get(Lib::Boost2));
            if b1.skipped.is_some() && b2.skipped.is_some() {
                "-".into()
            } else {
                format!("{} / {}", cell(b1), cell(b2))
            }
        };
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row_name(row),
            cell(fibra),
            cell(get(Lib::Go)),
            cell(get(Lib::Tokio)),
            cell(get(Lib::May)),
            boost,
            cell(get(Lib::Crossbeam)),
            ratio_to(Lib::Go),
            ratio_to(Lib::Crossbeam),
            target,
            met
        );
        let _ = writeln!(
            notes,
            "- {} (`{}`, N = {}):",
            row_name(row),
            row.key,
            fmt_count(n)
        );
        for s in series.iter().filter(|s| in_row(s.lib, row)) {
            let _ = writeln!(
                notes,
                "    {:<9} {}\n              {}",
                s.lib.key(),
                what(s.lib, row),
                spread_note(s, fmt_ns, |_| None)
            );
        }
    }
    harness::print_report(&table, &notes);
}

fn print_header(opts: &Options<Lib>, peers: &Peers) {
    harness::print_header_start(
        "fibra sync peer benchmark",
        if !cfg!(feature = "fibra-runtime") {
            " (column off: build with --features fibra-runtime)"
        } else if !cfg!(feature = "fibra-channel") {
            " (channel rows off: build with --features fibra-channel)"
        } else {
            ""
        },
    );
    println!(
        "peers:   tokio {} (multi_thread, 2 workers), async-channel {}, may {} (2 workers), \
         crossbeam-channel {} (OS threads)",
        harness::crate_version("tokio"),
        harness::crate_version("async-channel"),
        harness::crate_version("may"),
        harness::crate_version("crossbeam-channel"),
    );
    harness::print_external_peers(&peers.go, &peers.boost);
    harness::print_load();
    println!(
        "method:  one child process per measurement, interleaved rounds (order rotates each round), \
         medians; fibra/Go and fibra/crossbeam are medians of per-round ratios{}",
        if opts.quick { "; --quick" } else { "" }
    );
}
