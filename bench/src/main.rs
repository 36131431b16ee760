//! Side-by-side benchmark of fibra against corosensei and Boost.Context's fcontext.
//!
//! Every row runs its three contenders interleaved over several rounds (the order
//! rotates each round, so no contender always runs first or last) and reports the median
//! per contender: on a small, noisy machine the ratio of two numbers measured side by
//! side means more than either number alone. See README.md.
//!
//! Modes:
//! - default: the timing table;
//! - `--callgrind`: instructions per operation under `valgrind --tool=callgrind`
//!   (each case is run twice, with N and 2N iterations, and the difference is divided by
//!   N, so setup and process start-up cancel out);
//! - `--run-one CASE ITERS`: run one case once, untimed output (what `--callgrind` runs).

mod corosensei_cases;
mod fcontext_cases;
mod fibra_cases;

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// One contender of one row.
#[derive(Clone, Copy)]
struct Case {
    /// Which library: 0 fibra, 1 corosensei, 2 boost fcontext (the table's columns).
    lib: usize,
    /// What exactly runs, shown under the table.
    what: &'static str,
    /// Builds its state, times `iters` operations, tears down; returns the timed part.
    run: fn(u64) -> Duration,
}

const LIBS: [&str; 3] = ["fibra", "corosensei", "fcontext"];

#[derive(Clone, Copy)]
enum Target {
    None,
    /// fibra / corosensei must be at most this.
    RatioToCorosensei(f64),
    /// fibra must take at most this many nanoseconds.
    FibraNs(f64),
}

struct Row {
    /// Short name, used by `--run-one` (`<key>/<lib>`) and `--only`.
    key: &'static str,
    name: &'static str,
    /// Iterations per measurement (fewer for a contender whose operation is slow: see
    /// `plan_iters`).
    iters: u64,
    /// Iterations for one callgrind run (the second run does twice as many).
    callgrind_iters: u64,
    cases: [Case; 3],
    target: Target,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            key: "round_trip",
            name: "resume+suspend round trip",
            iters: 10_000_000,
            callgrind_iters: 200_000,
            cases: [
                Case {
                    lib: 0,
                    what: "Coroutine::resume(()) + Yielder::suspend(())",
                    run: fibra_cases::round_trip,
                },
                Case {
                    lib: 1,
                    what: "Coroutine::resume(()) + Yielder::suspend(())",
                    run: corosensei_cases::round_trip,
                },
                Case {
                    lib: 2,
                    what: "2x jump_fcontext",
                    run: fcontext_cases::round_trip,
                },
            ],
            target: Target::RatioToCorosensei(1.0),
        },
        Row {
            key: "round_trip_u64",
            name: "round trip, u64 in and out",
            iters: 10_000_000,
            callgrind_iters: 200_000,
            cases: [
                Case {
                    lib: 0,
                    what: "resume(u64) -> Yield(u64)",
                    run: fibra_cases::round_trip_u64,
                },
                Case {
                    lib: 1,
                    what: "resume(u64) -> Yield(u64)",
                    run: corosensei_cases::round_trip_u64,
                },
                Case {
                    lib: 2,
                    what: "2x jump_fcontext carrying the word",
                    run: fcontext_cases::round_trip_u64,
                },
            ],
            target: Target::None,
        },
        Row {
            key: "generator",
            name: "generator, per u64 item",
            iters: 10_000_000,
            callgrind_iters: 200_000,
            cases: [
                Case {
                    lib: 0,
                    what: "Generator<u64>::next",
                    run: fibra_cases::generator,
                },
                Case {
                    lib: 1,
                    what: "done() + resume(()) + as_yield() (no generator type)",
                    run: corosensei_cases::generator,
                },
                Case {
                    lib: 2,
                    what: "2x jump_fcontext, the item as the word",
                    run: fcontext_cases::generator,
                },
            ],
            target: Target::None,
        },
        Row {
            key: "create",
            name: "create + first resume + drop (default stacks)",
            iters: 1_000_000,
            callgrind_iters: 20_000,
            cases: [
                Case {
                    lib: 0,
                    what: "Coroutine::new (PooledStack, 256 KiB)",
                    run: fibra_cases::create_pooled,
                },
                Case {
                    lib: 1,
                    what: "Coroutine::new (mmaps a 1 MiB DefaultStack each time)",
                    run: corosensei_cases::create_new,
                },
                Case {
                    lib: 2,
                    what: "ProtectedFixedSizeStack::new(256 KiB) + make_fcontext each time",
                    run: fcontext_cases::create_protected,
                },
            ],
            target: Target::FibraNs(50.0),
        },
        Row {
            key: "create_reused",
            name: "create + first resume + drop (one reused stack)",
            iters: 1_000_000,
            callgrind_iters: 20_000,
            cases: [
                Case {
                    lib: 0,
                    what: "with_stack(DefaultStack) + into_stack",
                    run: fibra_cases::create_reused,
                },
                Case {
                    lib: 1,
                    what: "with_stack(DefaultStack) + into_stack",
                    run: corosensei_cases::create_reused,
                },
                Case {
                    lib: 2,
                    what: "make_fcontext on one ProtectedFixedSizeStack",
                    run: fcontext_cases::create_reused,
                },
            ],
            target: Target::None,
        },
    ]
}

struct Options {
    quick: bool,
    rounds: usize,
    /// Wall-clock budget of one measurement: slow contenders get fewer iterations.
    budget: Duration,
    only: Option<String>,
    cpu: Option<usize>,
}

fn usage() -> ! {
    eprintln!(
        "usage: fibra-bench [--quick] [--rounds N] [--only KEY] [--cpu N]\n\
         \x20      fibra-bench --callgrind [--quick] [--only KEY]\n\
         \x20      fibra-bench --run-one KEY/LIB ITERS\n\
         KEY: {}; LIB: {}",
        rows().iter().map(|r| r.key).collect::<Vec<_>>().join(", "),
        LIBS.join(", ")
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        quick: false,
        rounds: 0,
        budget: Duration::ZERO,
        only: None,
        cpu: None,
    };
    let mut callgrind = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--rounds" => {
                opts.rounds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--only" => opts.only = Some(args.next().unwrap_or_else(|| usage())),
            "--cpu" => {
                opts.cpu = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--callgrind" => callgrind = true,
            "--run-one" => {
                let id = args.next().unwrap_or_else(|| usage());
                let iters = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage());
                run_one(&id, iters);
                return;
            }
            "-h" | "--help" => usage(),
            // `cargo bench`-style harness flags are ignored.
            "--bench" => {}
            _ => usage(),
        }
    }
    if opts.rounds == 0 {
        opts.rounds = if opts.quick { 5 } else { 15 };
    }
    opts.budget = Duration::from_millis(if opts.quick { 20 } else { 100 });
    if let Some(cpu) = opts.cpu {
        pin_to_cpu(cpu);
    }
    if callgrind {
        run_callgrind(&opts)
    } else {
        run_timing(&opts)
    }
}

fn selected(opts: &Options) -> Vec<Row> {
    let rows: Vec<Row> = rows()
        .into_iter()
        .filter(|r| opts.only.as_deref().is_none_or(|k| r.key == k))
        .collect();
    if rows.is_empty() {
        usage();
    }
    rows
}

fn find_case(id: &str) -> Option<Case> {
    let (key, lib) = id.split_once('/')?;
    let lib = LIBS.iter().position(|l| *l == lib)?;
    rows()
        .into_iter()
        .find(|r| r.key == key)
        .map(|r| r.cases[lib])
}

fn run_one(id: &str, iters: u64) {
    let case = find_case(id).unwrap_or_else(|| usage());
    std::hint::black_box((case.run)(iters));
}

// ---------------------------------------------------------------------------------------
// Timing

fn ns_per_op(case: &Case, iters: u64) -> f64 {
    (case.run)(iters).as_nanos() as f64 / iters as f64
}

/// Warms a contender up and picks its iteration count: the row's count, or fewer if that
/// would take longer than the budget (e.g. a create that maps a stack: microseconds each).
fn plan_iters(case: &Case, row_iters: u64, opts: &Options) -> u64 {
    let row_iters = if opts.quick {
        row_iters / 10
    } else {
        row_iters
    };
    let probe = (row_iters / 100).max(100);
    ns_per_op(case, probe);
    let est = ns_per_op(case, probe).max(0.1);
    let fit = round_down_2_digits((opts.budget.as_nanos() as f64 / est) as u64);
    fit.clamp(1_000.min(row_iters), row_iters)
}

/// Keeps two significant digits: 9_903_088 -> 9_900_000.
fn round_down_2_digits(n: u64) -> u64 {
    let mut scale = 1;
    while n / scale >= 100 {
        scale *= 10;
    }
    n / scale * scale
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

/// (p75 - p25) / median of sorted samples, in percent.
fn iqr_percent(sorted: &[f64], med: f64) -> f64 {
    let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    (q(0.75) - q(0.25)) / med * 100.0
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.2} ns")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r >= 0.1 {
        format!("{r:.2}x")
    } else {
        format!("{r:.4}x")
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

struct Measured {
    /// Median over the rounds of fibra's time divided by corosensei's in the same round.
    paired_ratio: f64,
    median: [f64; 3],
    min: [f64; 3],
    iqr: [f64; 3],
    iters: [u64; 3],
}

fn measure_row(row: &Row, opts: &Options) -> Measured {
    let iters: Vec<u64> = row
        .cases
        .iter()
        .map(|c| plan_iters(c, row.iters, opts))
        .collect();
    let mut samples: [Vec<f64>; 3] = std::array::from_fn(|_| Vec::with_capacity(opts.rounds));
    for round in 0..opts.rounds {
        for k in 0..3 {
            let i = (round + k) % 3;
            samples[i].push(ns_per_op(&row.cases[i], iters[i]));
        }
    }
    let mut ratios: Vec<f64> = samples[0]
        .iter()
        .zip(&samples[1])
        .map(|(f, c)| f / c)
        .collect();
    let mut m = Measured {
        paired_ratio: median(&mut ratios),
        median: [0.0; 3],
        min: [0.0; 3],
        iqr: [0.0; 3],
        iters: [0; 3],
    };
    for i in 0..3 {
        m.median[i] = median(&mut samples[i]);
        m.min[i] = samples[i][0];
        m.iqr[i] = iqr_percent(&samples[i], m.median[i]);
        m.iters[i] = iters[i];
    }
    m
}

fn run_timing(opts: &Options) {
    print_header(opts);
    let rows = selected(opts);
    let mut table = String::new();
    let mut notes = String::new();
    table.push_str("| benchmark | fibra | corosensei | boost fcontext | fibra/corosensei ratio | target | met? |\n");
    table.push_str("|---|---:|---:|---:|---:|---|---|\n");
    for row in &rows {
        eprint!("measuring {} ...", row.key);
        let m = measure_row(row, opts);
        eprintln!(" done");
        let ratio = m.paired_ratio;
        let (target, met) = match row.target {
            Target::None => ("—".to_string(), "—"),
            Target::RatioToCorosensei(max) => {
                // Judged at the precision shown (two decimals): a 1.004x is a tie, well
                // inside the run-to-run noise.
                let shown = (ratio * 100.0).round() / 100.0;
                (
                    format!("fibra <= {max:.1}x corosensei"),
                    if shown <= max { "yes" } else { "**no**" },
                )
            }
            Target::FibraNs(max) => (
                format!("fibra <= {max:.0} ns"),
                if m.median[0] <= max { "yes" } else { "**no**" },
            ),
        };
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            fmt_ns(m.median[0]),
            fmt_ns(m.median[1]),
            fmt_ns(m.median[2]),
            fmt_ratio(ratio),
            target,
            met
        );
        let _ = writeln!(notes, "- {} ({}):", row.name, row.key);
        for (i, case) in row.cases.iter().enumerate() {
            let _ = writeln!(
                notes,
                "    {:<10} {:<64} min {:>10}  IQR {:>4.1}%  {} iters/measurement",
                LIBS[case.lib],
                case.what,
                fmt_ns(m.min[i]),
                m.iqr[i],
                fmt_count(m.iters[i]),
            );
        }
    }
    println!();
    print!("{table}");
    println!();
    println!("Per contender: what runs, fastest round, interquartile range of the rounds:");
    print!("{notes}");
}

fn print_header(opts: &Options) {
    println!("fibra peer benchmark");
    println!("machine: {}", machine_line());
    println!("rustc:   {}", env!("BENCH_RUSTC_VERSION"));
    if let Some(rev) = fibra_revision() {
        println!("fibra:   {rev}");
    }
    println!(
        "method:  {} interleaved rounds (order rotates each round); median per contender; the ratio is \
         the median of per-round fibra/corosensei ratios{}{}",
        opts.rounds,
        if opts.quick {
            ", --quick (1/10 of the iterations)"
        } else {
            ""
        },
        opts.cpu
            .map(|c| format!(", pinned to CPU {c}"))
            .unwrap_or_default()
    );
}

/// `<model name> (family F model M stepping S, <N> logical CPUs, <MHz> MHz), <kernel>`
/// from /proc.
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
    // The hypervisor may shorten the model name ("AMD EPYC"): family/model/stepping
    // still tell the microarchitecture (e.g. AMD family 26 is Zen 5).
    let fms = match (field("cpu family"), field("model"), field("stepping")) {
        (Some(f), Some(m), Some(s)) => format!("family {f} model {m} stepping {s}, "),
        _ => String::new(),
    };
    format!("{model} ({fms}{cpus} logical CPUs{mhz}){kernel}")
}

/// The fibra checkout's commit, if git is at hand.
fn fibra_revision() -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new("git")
        .args(["-C", root, "rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if rev.is_empty() {
        return None;
    }
    let dirty = Command::new("git")
        .args([
            "-C",
            root,
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "src",
            "asm",
            "build.rs",
        ])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    Some(if dirty {
        format!("{rev} + uncommitted changes in src/ asm/")
    } else {
        rev
    })
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity get
    // valid pointers to it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "warning: could not pin to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Instruction counts

/// Instructions of one callgrind run of `--run-one id iters`.
fn callgrind_count(exe: &str, id: &str, iters: u64, out_dir: &str) -> u64 {
    let out_file = format!("{out_dir}/callgrind.{}.{iters}.out", id.replace('/', "."));
    let output = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            &format!("--callgrind-out-file={out_file}"),
            exe,
            "--run-one",
            id,
        ])
        .arg(iters.to_string())
        .output()
        .unwrap_or_else(|e| {
            eprintln!("cannot run valgrind ({e}); install it with `apt-get install valgrind`");
            std::process::exit(1)
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        eprintln!("valgrind failed for {id}:\n{stderr}");
        std::process::exit(1);
    }
    stderr
        .lines()
        .find_map(|l| {
            let rest = l.split_once("Collected :")?.1;
            rest.trim().replace(',', "").parse().ok()
        })
        .unwrap_or_else(|| {
            eprintln!("no 'Collected' line in valgrind's output for {id}:\n{stderr}");
            std::process::exit(1)
        })
}

fn run_callgrind(opts: &Options) {
    let exe = std::env::current_exe().expect("own path");
    let exe = exe.to_str().expect("UTF-8 path");
    let out_dir = std::env::temp_dir().join("fibra-bench-callgrind");
    std::fs::create_dir_all(&out_dir).expect("create the callgrind output directory");
    let out_dir = out_dir.to_str().expect("UTF-8 path");
    println!("fibra peer benchmark: instructions per operation (valgrind --tool=callgrind)");
    println!("machine: {}", machine_line());
    println!("rustc:   {}", env!("BENCH_RUSTC_VERSION"));
    if let Some(rev) = fibra_revision() {
        println!("fibra:   {rev}");
    }
    println!("method:  (Ir(2N) - Ir(N)) / N for each case; callgrind files in {out_dir}");
    println!(
        "         (user-space instructions only: the kernel work of mmap/munmap is not counted)"
    );
    println!();
    println!("| benchmark | N | fibra | corosensei | boost fcontext | fibra/corosensei ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in selected(opts) {
        let n = if opts.quick {
            row.callgrind_iters / 10
        } else {
            row.callgrind_iters
        };
        let mut per_op = [0.0; 3];
        for case in &row.cases {
            let id = format!("{}/{}", row.key, LIBS[case.lib]);
            eprint!("callgrind {id} ...");
            let one = callgrind_count(exe, &id, n, out_dir);
            let two = callgrind_count(exe, &id, 2 * n, out_dir);
            per_op[case.lib] = (two as f64 - one as f64) / n as f64;
            eprintln!(" {:.1} Ir/op", per_op[case.lib]);
        }
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} |",
            row.name,
            fmt_count(n),
            per_op[0],
            per_op[1],
            per_op[2],
            fmt_ratio(per_op[0] / per_op[1])
        );
    }
}
