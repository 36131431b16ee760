//! Side-by-side network benchmark of fibra's I/O (issue 5's "Examples and benchmarks"):
//! one-thread echo servers of fibra (io_uring and epoll), tokio, may and Go under one load
//! generator, and `wrk` against fibra's `examples/http_hello.rs` and a tokio responder.
//! See ../../../README.md, "Network peers".
//!
//! One binary, three roles:
//!
//! - `net [OPTIONS]`: the driver. For every message size x connection count, in rounds
//!   (the order of the servers rotates every round), it starts each server as a process
//!   of its own, runs the load generator against it as another process, stops the
//!   server, and at the end prints the tables with ratios to tokio.
//! - `net serve SERVER`: one server; it listens on an ephemeral port of 127.0.0.1 and
//!   prints `listening ADDR` (the Go server, `go/echo.go`, does the same).
//! - `net load ADDR CONNS SIZE SECS [--warmup S] [--threads T] [--server-pid PID]`: the
//!   load generator (`load.rs`), printing one `result key=value ...` line.

#[cfg(feature = "fibra-net")]
mod fibra_echo;
#[path = "../../harness.rs"]
mod harness;
mod http;
mod load;
mod may_echo;
mod std_echo;
mod tokio_echo;
mod wrk;

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::{field, median};

/// The servers' read buffer, in bytes (on the stack, the task or the goroutine's heap).
pub(crate) const BUF: usize = 4096;

/// A server's first line on stdout: where it listens.
pub(crate) fn announce(addr: SocketAddr) {
    println!("listening {addr}");
}

/// `announce` with a note (fibra's I/O backend).
#[cfg_attr(not(feature = "fibra-net"), allow(dead_code))]
pub(crate) fn announce_with(addr: SocketAddr, note: &str) {
    println!("listening {addr} {note}");
}

// ---------------------------------------------------------------------------------------
// The contenders

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    FibraUring,
    FibraEpoll,
    Tokio,
    May,
    Go,
    /// std, one thread per connection: a reference for checking the load generator, not
    /// a contender (it is not limited to one thread); only with `--libs`.
    Std,
}

const ALL_LIBS: [Lib; 6] = [
    Lib::FibraUring,
    Lib::FibraEpoll,
    Lib::Tokio,
    Lib::May,
    Lib::Go,
    Lib::Std,
];
const DEFAULT_LIBS: [Lib; 5] = [
    Lib::FibraUring,
    Lib::FibraEpoll,
    Lib::Tokio,
    Lib::May,
    Lib::Go,
];

impl Lib {
    fn key(self) -> &'static str {
        match self {
            Lib::FibraUring => "fibra-uring",
            Lib::FibraEpoll => "fibra-epoll",
            Lib::Tokio => "tokio",
            Lib::May => "may",
            Lib::Go => "go",
            Lib::Std => "std",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Lib::FibraUring => "fibra (io_uring)",
            Lib::FibraEpoll => "fibra (epoll)",
            Lib::Tokio => "tokio",
            Lib::May => "may",
            Lib::Go => "Go",
            Lib::Std => "std threads (ref.)",
        }
    }
    fn what(self) -> &'static str {
        match self {
            Lib::FibraUring | Lib::FibraEpoll => {
                "Runtime::builder().workers(1), fibra::net::TcpListener, a fiber per connection, \
                 blocking read/write_all on a 4 KiB stack buffer"
            }
            Lib::Tokio => {
                "current_thread runtime, tokio::net::TcpListener, a task per connection, \
                 read/write_all().await on a 4 KiB buffer"
            }
            Lib::May => {
                "set_workers(1), set_worker_pin(false), may::net::TcpListener, a coroutine per \
                 connection, blocking read/write_all on a 4 KiB stack buffer"
            }
            Lib::Go => {
                "GOMAXPROCS=1, net.Listen, a goroutine per connection, Read/Write, 4 KiB buffer"
            }
            Lib::Std => "std::net, one OS thread per connection (not limited to one thread)",
        }
    }
}

// ---------------------------------------------------------------------------------------
// The command line

struct Options {
    rounds: usize,
    window: Duration,
    warmup: Duration,
    libs: Vec<Lib>,
    sizes: Vec<usize>,
    conns: Vec<usize>,
    /// Load generator threads.
    threads: usize,
    /// Pin the server to CPU 0 and the load generator to CPU 1.
    pin: bool,
    echo: bool,
    http: bool,
    quick: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: net [--quick] [--rounds N] [--secs S] [--warmup S] [--libs LIB,...] [--sizes B,...]\n\
         \x20          [--conns N,...] [--threads T] [--pin] [--only echo|http]\n\
         \x20      net serve echo-fibra|echo-tokio|echo-may|echo-std|http-fibra|http-tokio\n\
         \x20      net load ADDR CONNS SIZE SECS [--warmup S] [--threads T] [--server-pid PID]\n\
         LIB: fibra-uring, fibra-epoll, tokio, may, go, std (default: all but std)"
    );
    std::process::exit(2)
}

fn secs(s: Option<String>) -> Duration {
    s.and_then(|s| s.parse::<f64>().ok())
        .filter(|&s| s > 0.0 && s < 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or_else(|| usage())
}

fn list<T: std::str::FromStr>(s: Option<String>) -> Vec<T> {
    let s = s.unwrap_or_else(|| usage());
    s.split(',')
        .map(|x| x.parse().unwrap_or_else(|_| usage()))
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    match args.peek().map(String::as_str) {
        Some("serve") => {
            args.next();
            let which = args.next().unwrap_or_else(|| usage());
            return serve(&which);
        }
        Some("load") => {
            args.next();
            return load::run(load_spec(args));
        }
        _ => {}
    }
    let mut o = Options {
        rounds: 3,
        window: Duration::from_secs(2),
        warmup: Duration::from_millis(500),
        libs: DEFAULT_LIBS.to_vec(),
        sizes: vec![64, 1024],
        conns: vec![64, 256, 1024],
        threads: 1,
        pin: false,
        echo: true,
        http: true,
        quick: false,
    };
    let (mut rounds, mut window, mut warmup) = (None, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => o.quick = true,
            "--rounds" => {
                rounds = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .filter(|&r| r > 0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--secs" => window = Some(secs(args.next())),
            "--warmup" => warmup = Some(secs(args.next())),
            "--libs" => {
                o.libs = list::<String>(args.next())
                    .iter()
                    .map(|k| {
                        ALL_LIBS
                            .into_iter()
                            .find(|l| l.key() == k)
                            .unwrap_or_else(|| usage())
                    })
                    .collect()
            }
            "--sizes" => o.sizes = list(args.next()),
            "--conns" => o.conns = list(args.next()),
            "--threads" => {
                o.threads = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&t| t > 0)
                    .unwrap_or_else(|| usage())
            }
            "--pin" => o.pin = true,
            "--only" => match args.next().as_deref() {
                Some("echo") => o.http = false,
                Some("http") => o.echo = false,
                _ => usage(),
            },
            "--bench" => {}
            _ => usage(),
        }
    }
    if o.quick {
        o.rounds = 1;
        o.window = Duration::from_secs(1);
        o.warmup = Duration::from_millis(300);
    }
    o.rounds = rounds.unwrap_or(o.rounds);
    o.window = window.unwrap_or(o.window);
    o.warmup = warmup.unwrap_or(o.warmup);
    run_driver(&o);
}

fn load_spec(mut args: impl Iterator<Item = String>) -> load::LoadSpec {
    let addr = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| usage());
    let mut num = || -> usize {
        args.next()
            .and_then(|s| s.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| usage())
    };
    let conns = num();
    let size = num();
    let mut spec = load::LoadSpec {
        addr,
        conns,
        size,
        warmup: Duration::from_millis(500),
        window: Duration::ZERO,
        threads: 1,
        server_pid: None,
    };
    spec.window = secs(args.next());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--warmup" => spec.warmup = secs(args.next()),
            "--threads" => {
                spec.threads = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&t| t > 0)
                    .unwrap_or_else(|| usage())
            }
            "--server-pid" => {
                spec.server_pid = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            _ => usage(),
        }
    }
    spec
}

fn serve(which: &str) {
    match which {
        "echo-tokio" => tokio_echo::echo(),
        "http-tokio" => tokio_echo::http(),
        "echo-may" => may_echo::echo(),
        "echo-std" => std_echo::echo(),
        #[cfg(feature = "fibra-net")]
        "echo-fibra" => fibra_echo::echo(),
        #[cfg(feature = "fibra-net")]
        "http-fibra" => fibra_echo::http(),
        #[cfg(not(feature = "fibra-net"))]
        "echo-fibra" | "http-fibra" => {
            eprintln!("fibra's server needs the `fibra-net` feature");
            std::process::exit(2)
        }
        _ => usage(),
    }
}

// ---------------------------------------------------------------------------------------
// Servers as child processes

/// A running server: our child process, killed (by its handle) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// What followed the address on its `listening` line (fibra: the I/O backend).
    pub(crate) note: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// Starts `cmd` (pinned to `cpu` if given) and waits up to 10 s for the first line of
    /// its stdout with an address in it (`listening ADDR`).
    pub(crate) fn start(mut cmd: Command, cpu: Option<usize>) -> Result<Server, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cpu) = cpu {
            // SAFETY: the closure runs in the forked child before exec and makes only
            // async-signal-safe calls (sched_setaffinity is a plain syscall on a local set).
            unsafe {
                cmd.pre_exec(move || pin_to(cpu));
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Every line goes to the starter until it hangs up; the rest is drained so
            // the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            addr: "0.0.0.0:0".parse().expect("an address"),
            note: String::new(),
            stderr: Some(stderr),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let (addr, note) = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(server.stop_with("exited before saying where it listens"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(server.stop_with("did not say where it listens within 10 s"));
                }
            };
            // `listening ADDR [NOTE]`, or an address anywhere in a line: `ADDR`,
            // `http://ADDR/`, `(ADDR)`, `ADDR,` ...
            let mut words = line.split_whitespace();
            let found = words.find_map(|w| {
                let w = w.strip_prefix("http://").unwrap_or(w);
                w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != ']' && c != '[')
                    .parse::<SocketAddr>()
                    .ok()
            });
            if let Some(addr) = found {
                break (addr, words.collect::<Vec<_>>().join(" "));
            }
        };
        server.addr = addr;
        server.note = note;
        Ok(server)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Still running?
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills it and says `why` with the last line of its stderr.
    fn stop_with(&mut self, why: &str) -> String {
        let said = self.stop();
        match said.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(l) => format!("{why}: {}", l.trim()),
            None => why.to_string(),
        }
    }

    /// Kills it (our own child, by its handle) and returns its stderr.
    pub(crate) fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET writes inside it.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `cmd` to completion with a time limit; its stdout, or why it failed.
pub(crate) fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let last_err = || {
        stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    match status {
        None => Err(format!("timed out after {} s", timeout.as_secs())),
        Some(s) if !s.success() => Err(format!("{s}: {}", last_err())),
        Some(_) => Ok(stdout),
    }
}

// ---------------------------------------------------------------------------------------
// The echo table

/// One load run's figures.
#[derive(Clone, Copy)]
struct Sample {
    rps: f64,
    p50: f64,
    p99: f64,
    server_cpu: f64,
    client_cpu: f64,
    /// The part of the server's CPU time spent in user space.
    server_user: f64,
}

struct Series {
    lib: Lib,
    samples: Vec<Option<Sample>>,
    failure: Option<String>,
    skipped: Option<String>,
    /// What the server said after its address (fibra: its I/O backend).
    note: String,
}

impl Series {
    fn ok(&self) -> Vec<Sample> {
        self.samples.iter().flatten().copied().collect()
    }
    fn med(&self, f: impl Fn(&Sample) -> f64) -> Option<f64> {
        let mut v: Vec<f64> = self.ok().iter().map(f).collect();
        (!v.is_empty()).then(|| median(&mut v))
    }
}

impl Sample {
    /// The server's CPU time per round trip, in µs.
    fn cost_us(&self) -> f64 {
        self.server_cpu / self.rps * 1e6
    }
}

/// Median over the rounds where both ran of f(a) / f(b) in that round.
fn paired_ratio(a: &Series, b: &Series, f: impl Fn(&Sample) -> f64) -> Option<f64> {
    let mut r: Vec<f64> = a
        .samples
        .iter()
        .zip(&b.samples)
        .filter_map(|(x, y)| Some(f(x.as_ref()?) / f(y.as_ref()?)))
        .filter(|r| r.is_finite())
        .collect();
    (!r.is_empty()).then(|| median(&mut r))
}

/// Median over the rounds where both ran of a's requests/s / b's in that round.
fn rps_ratio(a: &Series, b: &Series) -> Option<f64> {
    paired_ratio(a, b, |s| s.rps)
}

struct Env {
    me: PathBuf,
    go: Result<PathBuf, String>,
}

fn available(env: &Env, lib: Lib) -> Result<(), String> {
    match lib {
        Lib::FibraUring | Lib::FibraEpoll if !cfg!(feature = "fibra-net") => {
            Err("not built (needs `--features fibra-net`: fibra::net)".into())
        }
        Lib::Go => env.go.as_ref().map(|_| ()).map_err(Clone::clone),
        _ => Ok(()),
    }
}

fn server_command(env: &Env, lib: Lib) -> Command {
    let mine = |which: &str| {
        let mut c = Command::new(&env.me);
        c.args(["serve", which]);
        c
    };
    match lib {
        Lib::FibraUring => {
            let mut c = mine("echo-fibra");
            c.env("FIBRA_IO", "uring");
            c
        }
        Lib::FibraEpoll => {
            let mut c = mine("echo-fibra");
            c.env("FIBRA_IO", "epoll");
            c
        }
        Lib::Tokio => mine("echo-tokio"),
        Lib::May => mine("echo-may"),
        Lib::Std => mine("echo-std"),
        Lib::Go => {
            let mut c = Command::new(env.go.as_ref().expect("Go server built"));
            c.env("GOMAXPROCS", "1");
            c
        }
    }
}

/// One measurement: start the server, load it, stop it.
fn measure(
    env: &Env,
    o: &Options,
    lib: Lib,
    size: usize,
    conns: usize,
) -> Result<(Sample, String), String> {
    let mut server = Server::start(server_command(env, lib), o.pin.then_some(0))?;
    // fibra's server names its backend: it must be the one FIBRA_IO asked for.
    let expected = match lib {
        Lib::FibraUring => Some("io_uring"),
        Lib::FibraEpoll => Some("epoll"),
        _ => None,
    };
    if let Some(want) = expected.filter(|&w| server.note != w) {
        return Err(format!("the server runs on {:?}, not {want}", server.note));
    }
    let mut load = Command::new(&env.me);
    load.args([
        "load",
        &server.addr.to_string(),
        &conns.to_string(),
        &size.to_string(),
        &o.window.as_secs_f64().to_string(),
        "--warmup",
        &o.warmup.as_secs_f64().to_string(),
        "--threads",
        &o.threads.to_string(),
        "--server-pid",
        &server.pid().to_string(),
    ]);
    if o.pin {
        // SAFETY: as in Server::start.
        unsafe {
            load.pre_exec(|| pin_to(1));
        }
    }
    let result = run_with_timeout(load, o.warmup + o.window + Duration::from_secs(60));
    let alive = server.alive();
    let said = server.stop();
    let stdout = result.map_err(|e| {
        let srv = if alive {
            String::new()
        } else {
            format!(
                "; the server had exited: {}",
                said.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
            )
        };
        format!("load generator: {e}{srv}")
    })?;
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("result "))
        .ok_or("no result line from the load generator")?;
    let get = |k: &str| field(line, k).unwrap_or(f64::NAN);
    Ok((
        Sample {
            rps: get("rps"),
            p50: get("p50_us"),
            p99: get("p99_us"),
            server_cpu: get("server_cpu"),
            client_cpu: get("client_cpu"),
            server_user: get("server_user"),
        },
        server.note.clone(),
    ))
}

fn fmt_rps(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else {
        format!("{:.1}k", r / 1e3)
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn fmt_size(b: usize) -> String {
    if b >= 1024 && b.is_multiple_of(1024) {
        format!("{} KiB", b / 1024)
    } else {
        format!("{b} B")
    }
}

/// The target: at 256 connections, fibra's requests/s >= 1.3x tokio's, with a lower p99.
const TARGET_CONNS: usize = 256;
const TARGET_RATIO: f64 = 1.3;

fn run_echo(env: &Env, o: &Options) -> (String, String) {
    let shown: Vec<Lib> = DEFAULT_LIBS
        .into_iter()
        .chain(o.libs.contains(&Lib::Std).then_some(Lib::Std))
        .collect();
    let mut rps_table = String::new();
    let mut lat_table = String::new();
    let mut cpu_table = String::new();
    let mut cost_table = String::new();
    let mut targets = String::new();
    let mut notes = String::new();
    let head = |t: &mut String, extra: &[&str]| {
        let _ = write!(t, "| message | conns |");
        for l in &shown {
            let _ = write!(t, " {} |", l.title());
        }
        for e in extra {
            let _ = write!(t, " {e} |");
        }
        let _ = write!(t, "\n|---|---:|");
        for _ in shown.iter().map(|_| ()).chain(extra.iter().map(|_| ())) {
            let _ = write!(t, "---:|");
        }
        t.push('\n');
    };
    let ratio_cols = ["uring/tokio", "epoll/tokio", "may/tokio", "Go/tokio"];
    head(&mut rps_table, &ratio_cols);
    head(&mut lat_table, &[]);
    head(&mut cpu_table, &[]);
    head(&mut cost_table, &ratio_cols);
    for &size in &o.sizes {
        for &conns in &o.conns {
            eprintln!("measuring {} x {conns} connections ...", fmt_size(size));
            let mut series: Vec<Series> = shown
                .iter()
                .map(|&lib| Series {
                    lib,
                    samples: vec![None; o.rounds],
                    failure: None,
                    skipped: if !o.libs.contains(&lib) {
                        Some("not selected (--libs)".into())
                    } else {
                        available(env, lib).err()
                    },
                    note: String::new(),
                })
                .collect();
            let active: Vec<usize> = (0..series.len())
                .filter(|&i| series[i].skipped.is_none())
                .collect();
            for round in 0..o.rounds {
                eprint!("  round {}/{}:", round + 1, o.rounds);
                for k in 0..active.len() {
                    let s = &mut series[active[(round + k) % active.len()]];
                    if s.failure.is_some() {
                        continue;
                    }
                    eprint!(" {}", s.lib.key());
                    match measure(env, o, s.lib, size, conns) {
                        Ok((sample, note)) => {
                            s.samples[round] = Some(sample);
                            s.note = note;
                        }
                        Err(e) => {
                            eprint!("(failed: {e})");
                            s.failure = Some(e);
                        }
                    }
                }
                eprintln!();
            }
            let get = |lib: Lib| series.iter().find(|s| s.lib == lib).expect("every lib");
            let cell = |s: &Series, f: &dyn Fn(&Series) -> Option<String>| -> String {
                match (&s.skipped, &s.failure, f(s)) {
                    (Some(_), _, _) => "-".into(),
                    (None, Some(_), Some(v)) => format!("{v} then fails"),
                    (None, Some(_), None) => "fails".into(),
                    (None, None, Some(v)) => v,
                    (None, None, None) => "-".into(),
                }
            };
            let _ = write!(rps_table, "| {} | {conns} |", fmt_size(size));
            let _ = write!(lat_table, "| {} | {conns} |", fmt_size(size));
            let _ = write!(cpu_table, "| {} | {conns} |", fmt_size(size));
            let _ = write!(cost_table, "| {} | {conns} |", fmt_size(size));
            for s in &series {
                let _ = write!(
                    rps_table,
                    " {} |",
                    cell(s, &|s| s.med(|x| x.rps).map(fmt_rps))
                );
                let _ = write!(
                    lat_table,
                    " {} |",
                    cell(s, &|s| Some(format!(
                        "{} / {}",
                        fmt_us(s.med(|x| x.p50)?),
                        fmt_us(s.med(|x| x.p99)?)
                    )))
                );
                let _ = write!(
                    cpu_table,
                    " {} |",
                    cell(s, &|s| Some(format!(
                        "{:.2} / {:.2} ({:.0}%)",
                        s.med(|x| x.server_cpu)?,
                        s.med(|x| x.client_cpu)?,
                        s.med(|x| x.server_user)? * 100.0
                    )))
                );
                let _ = write!(
                    cost_table,
                    " {} |",
                    cell(s, &|s| s.med(Sample::cost_us).map(|c| format!("{c:.2} µs")))
                );
            }
            let tokio = get(Lib::Tokio);
            for lib in [Lib::FibraUring, Lib::FibraEpoll, Lib::May, Lib::Go] {
                let r = rps_ratio(get(lib), tokio).map_or("-".into(), |r| format!("{r:.2}x"));
                let _ = write!(rps_table, " {r} |");
                let c = paired_ratio(get(lib), tokio, Sample::cost_us)
                    .map_or("-".into(), |r| format!("{r:.2}x"));
                let _ = write!(cost_table, " {c} |");
            }
            rps_table.push('\n');
            cost_table.push('\n');
            lat_table.push('\n');
            cpu_table.push('\n');
            if conns == TARGET_CONNS {
                for lib in [Lib::FibraUring, Lib::FibraEpoll] {
                    let f = get(lib);
                    let line = match (
                        rps_ratio(f, tokio),
                        f.med(|x| x.p99),
                        tokio.med(|x| x.p99),
                        &f.failure,
                    ) {
                        (Some(r), Some(fp), Some(tp), None) => {
                            let fast = (r * 100.0).round() / 100.0 >= TARGET_RATIO;
                            let lower = fp < tp;
                            format!(
                                "{:.2}x tokio's requests/s ({}), p99 {} vs tokio's {} ({}): **{}**",
                                r,
                                if fast { ">= 1.3x" } else { "below 1.3x" },
                                fmt_us(fp),
                                fmt_us(tp),
                                if lower { "lower" } else { "not lower" },
                                if fast && lower { "met" } else { "not met" }
                            )
                        }
                        _ => format!(
                            "not measured ({})",
                            f.skipped
                                .clone()
                                .or(f.failure.clone())
                                .or(tokio.skipped.clone())
                                .or(tokio.failure.clone())
                                .unwrap_or_else(|| "no samples".into())
                        ),
                    };
                    let _ = writeln!(
                        targets,
                        "- {}, {} messages, {conns} connections: {line}",
                        lib.title(),
                        fmt_size(size)
                    );
                }
            }
            let _ = writeln!(notes, "- {} x {conns} connections:", fmt_size(size));
            for s in &series {
                let spread = if let Some(why) = &s.skipped {
                    why.clone()
                } else {
                    let rps: Vec<String> = s
                        .samples
                        .iter()
                        .map(|x| x.map_or("-".into(), |x| fmt_rps(x.rps)))
                        .collect();
                    let mut n = format!("rounds: {}", rps.join(", "));
                    if !s.note.is_empty() {
                        let _ = write!(n, "; server said: {}", s.note);
                    }
                    if let Some(f) = &s.failure {
                        let _ = write!(n, "; FAILED: {f}");
                    }
                    n
                };
                let _ = writeln!(notes, "    {:<12} {spread}", s.lib.key());
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Requests/s (median of rounds; ratios: median of per-round ratios):\n"
    );
    out.push_str(&rps_table);
    let _ = writeln!(out, "\nLatency p50 / p99 (median of rounds):\n");
    out.push_str(&lat_table);
    let _ = writeln!(
        out,
        "\nCPU over the window, server / load generator (1.00 = one CPU busy; a server near \
         1.00 is the bottleneck), and (in parentheses) the part of the server's in user space:\n"
    );
    out.push_str(&cpu_table);
    let _ = writeln!(
        out,
        "\nServer CPU time per round trip (CPU over the window / requests; lower is better, \
         and it does not depend on how fast the load generator is):\n"
    );
    out.push_str(&cost_table);
    if !targets.is_empty() {
        let _ = writeln!(
            out,
            "\nTarget (fibra >= {TARGET_RATIO}x tokio's requests/s at {TARGET_CONNS} connections, \
             with a lower p99):\n"
        );
        out.push_str(&targets);
    }
    let mut what = String::from("Servers:\n");
    for l in &shown {
        let _ = writeln!(what, "    {:<12} {}", l.key(), l.what());
    }
    what.push_str("Rounds per cell (requests/s):\n");
    what.push_str(&notes);
    (out, what)
}

fn run_driver(o: &Options) {
    let me = std::env::current_exe().expect("own path");
    let dir = harness::peers_dir(&me);
    std::fs::create_dir_all(&dir).expect("create the peers directory");
    let env = Env {
        go: if o.echo && o.libs.contains(&Lib::Go) {
            harness::build_go(&dir, "echo.go", "echo-go")
        } else {
            Err("not selected".into())
        },
        me,
    };
    harness::print_header_start(
        "fibra network benchmark",
        if cfg!(feature = "fibra-net") {
            ""
        } else {
            " (fibra's columns off: build with --features fibra-net)"
        },
    );
    println!(
        "peers:   tokio {} (current_thread), may {} (1 worker)",
        harness::crate_version("tokio"),
        harness::crate_version("may")
    );
    match &env.go {
        Ok(_) => println!(
            "         {} (GOMAXPROCS=1)",
            harness::command_output(Command::new("go").arg("version")).unwrap_or_else(|e| e)
        ),
        Err(e) => println!("         Go: {e}"),
    }
    if o.http {
        println!("         {}", wrk::version());
    }
    harness::print_load();
    println!(
        "method:  every server a fresh process, one load generator process per measurement \
         ({} thread{}, epoll), {:.1} s warm-up + {:.1} s window, {} round{} per cell, server \
         order rotating each round{}",
        o.threads,
        if o.threads == 1 { "" } else { "s" },
        o.warmup.as_secs_f64(),
        o.window.as_secs_f64(),
        o.rounds,
        if o.rounds == 1 { "" } else { "s" },
        if o.pin {
            "; server pinned to CPU 0, load generator to CPU 1"
        } else {
            "; nothing pinned"
        }
    );
    let mut what = String::new();
    if o.echo {
        let (tables, w) = run_echo(&env, o);
        println!("\n## Echo\n");
        print!("{tables}");
        what.push_str(&w);
    }
    if o.http {
        let (tables, w) = wrk::run(&env.me, o.rounds, o.window, &o.conns, o.pin);
        println!("\n## HTTP (wrk)\n");
        print!("{tables}");
        what.push_str(&w);
    }
    println!();
    print!("{what}");
    println!("load at the end: {}", harness::load_average());
}
