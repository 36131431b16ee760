//! The HTTP run: `wrk` (one thread) against fibra's `examples/http_hello.rs` and against
//! tokio's minimal responder (`tokio_echo::http`), both one-thread servers, in rounds
//! that alternate which goes first.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{command_output, median};
use crate::load::{clock_ticks_per_sec, cpu_ticks};
use crate::{Server, fmt_rps, fmt_us, pin_to, run_with_timeout};

#[derive(Clone, Copy, PartialEq)]
enum Responder {
    Fibra,
    Tokio,
}

/// `wrk`'s version line, or why the HTTP run is skipped.
pub(crate) fn version() -> String {
    match find_wrk() {
        Ok(_) => {
            // `wrk -v` prints its version and exits 1.
            let out = Command::new("wrk").arg("-v").output();
            out.ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
                .unwrap_or_else(|| "wrk (version unknown)".into())
        }
        Err(e) => format!("wrk: {e}"),
    }
}

/// `wrk` on the PATH; if missing, tries `apt-get install -y wrk` once (as root).
fn find_wrk() -> Result<(), String> {
    let have = || Command::new("wrk").arg("-v").output().is_ok();
    if have() {
        return Ok(());
    }
    static TRIED: std::sync::Once = std::sync::Once::new();
    TRIED.call_once(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            eprintln!("wrk not found: apt-get install -y wrk ...");
            let _ = Command::new("apt-get")
                .args([
                    "-o",
                    "DPkg::Lock::Timeout=600",
                    "install",
                    "-y",
                    "-q",
                    "wrk",
                ])
                .output();
        }
    });
    if have() {
        Ok(())
    } else {
        Err("skipped: `wrk` not found (apt-get install wrk)".into())
    }
}

/// How fibra's responder is started.
enum FibraHttp {
    /// fibra's `examples/http_hello.rs`, built here.
    Example(PathBuf),
    /// `net serve http-fibra` (`fibra_echo::http`), when the example is not there.
    Bench,
}

impl FibraHttp {
    fn label(&self) -> &'static str {
        match self {
            FibraHttp::Example(_) => "fibra (examples/http_hello.rs)",
            FibraHttp::Bench => "fibra (net serve http-fibra)",
        }
    }
}

/// fibra's responder: the example if this checkout has it, else the bench's own (with
/// the `fibra-net` feature), else why the column is skipped.
fn fibra_http() -> Result<FibraHttp, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if !root.join("examples/http_hello.rs").exists() {
        return if cfg!(feature = "fibra-net") {
            Ok(FibraHttp::Bench)
        } else {
            Err("skipped: no examples/http_hello.rs, and built without `fibra-net`".into())
        };
    }
    eprintln!("building fibra's http_hello example ...");
    let out = command_output(
        Command::new("cargo")
            .args([
                "build",
                "--release",
                "--example",
                "http_hello",
                "--message-format=json-render-diagnostics",
            ])
            .current_dir(&root),
    )
    .map_err(|e| format!("skipped: building http_hello failed: {e}"))?;
    out.lines()
        .filter(|l| l.contains("\"name\":\"http_hello\""))
        .find_map(|l| {
            let at = l.find("\"executable\":\"")? + "\"executable\":\"".len();
            let end = l[at..].find('"')?;
            Some(FibraHttp::Example(PathBuf::from(&l[at..at + end])))
        })
        .ok_or_else(|| "skipped: cargo did not say where http_hello is".into())
}

struct WrkSample {
    /// What the server said after its address (http_hello: workers and backend).
    note: String,
    rps: f64,
    p50: f64,
    p99: f64,
    server_cpu: f64,
}

/// `1.23ms`, `456.78us`, `2.00s` in µs.
fn parse_duration_us(s: &str) -> Option<f64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    Some(num.parse::<f64>().ok()? * mult)
}

fn parse_wrk(out: &str) -> Result<(f64, f64, f64), String> {
    let mut rps = None;
    let (mut p50, mut p99) = (None, None);
    for line in out.lines() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next()) {
            (Some("Requests/sec:"), Some(v)) => rps = v.parse().ok(),
            (Some("50%"), Some(v)) => p50 = parse_duration_us(v),
            (Some("99%"), Some(v)) => p99 = parse_duration_us(v),
            (Some("Socket"), Some("errors:")) | (Some("Non-2xx"), _) => {
                return Err(format!("wrk: {}", line.trim()));
            }
            _ => {}
        }
    }
    match (rps, p50, p99) {
        (Some(r), Some(a), Some(b)) => Ok((r, a, b)),
        _ => Err(format!("cannot read wrk's output: {out:?}")),
    }
}

fn measure(
    me: &Path,
    fibra: Option<&FibraHttp>,
    who: Responder,
    conns: usize,
    secs: u64,
    pin: bool,
) -> Result<WrkSample, String> {
    let mine = |which: &str| {
        let mut c = Command::new(me);
        c.args(["serve", which]);
        c
    };
    let cmd = match (who, fibra) {
        (Responder::Fibra, Some(FibraHttp::Example(exe))) => {
            // `http_hello [addr] [workers]`: an ephemeral port, one worker.
            let mut c = Command::new(exe);
            c.args(["127.0.0.1:0", "1"]);
            c
        }
        (Responder::Fibra, _) => mine("http-fibra"),
        (Responder::Tokio, _) => mine("http-tokio"),
    };
    let mut server = Server::start(cmd, pin.then_some(0))?;
    let mut wrk = Command::new("wrk");
    wrk.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
        &format!("http://{}/", server.addr),
    ]);
    if pin {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: as in Server::start: only a syscall between fork and exec.
        unsafe {
            wrk.pre_exec(|| pin_to(1));
        }
    }
    let before = cpu_ticks(server.pid());
    let out = run_with_timeout(wrk, Duration::from_secs(secs + 30));
    let after = cpu_ticks(server.pid());
    server.stop();
    let note = server.note.clone();
    let (rps, p50, p99) = parse_wrk(&out?)?;
    let server_cpu = match (before, after) {
        (Some(a), Some(b)) => (b - a) as f64 / clock_ticks_per_sec() / secs as f64,
        _ => f64::NAN,
    };
    Ok(WrkSample {
        note,
        rps,
        p50,
        p99,
        server_cpu,
    })
}

/// Runs the HTTP table; returns (tables, notes).
pub(crate) fn run(
    me: &Path,
    rounds: usize,
    window: Duration,
    conns: &[usize],
    pin: bool,
) -> (String, String) {
    if let Err(e) = find_wrk() {
        return (format!("{e}\n"), String::new());
    }
    let fibra = fibra_http();
    let secs = window.as_secs_f64().ceil().max(1.0) as u64;
    let label = fibra.as_ref().map_or("fibra", |f| f.label());
    let mut table = format!(
        "| conns | {label} | tokio | fibra/tokio | server CPU fibra / tokio | server CPU per request fibra / tokio |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut notes = String::from("HTTP rounds (requests/s):\n");
    for &c in conns {
        eprintln!("wrk, {c} connections ...");
        let mut samples: [Vec<Option<WrkSample>>; 2] = [Vec::new(), Vec::new()];
        let mut failed: [Option<String>; 2] = [fibra.as_ref().err().cloned(), None];
        for round in 0..rounds {
            eprint!("  round {}/{rounds}:", round + 1);
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                if failed[i].is_some() {
                    samples[i].push(None);
                    continue;
                }
                let who = [Responder::Fibra, Responder::Tokio][i];
                eprint!(" {}", ["fibra", "tokio"][i]);
                match measure(me, fibra.as_ref().ok(), who, c, secs, pin) {
                    Ok(s) => samples[i].push(Some(s)),
                    Err(e) => {
                        eprint!("(failed: {e})");
                        failed[i] = Some(e);
                        samples[i].push(None);
                    }
                }
            }
            eprintln!();
        }
        let med = |i: usize, f: &dyn Fn(&WrkSample) -> f64| -> Option<f64> {
            let mut v: Vec<f64> = samples[i].iter().flatten().map(f).collect();
            (!v.is_empty()).then(|| median(&mut v))
        };
        let cell = |i: usize| match (med(i, &|s| s.rps), med(i, &|s| s.p50), med(i, &|s| s.p99)) {
            (Some(r), Some(a), Some(b)) => {
                format!("{} req/s, p50 {} p99 {}", fmt_rps(r), fmt_us(a), fmt_us(b))
            }
            _ => "-".into(),
        };
        let mut ratios: Vec<f64> = samples[0]
            .iter()
            .zip(&samples[1])
            .filter_map(|(f, t)| Some(f.as_ref()?.rps / t.as_ref()?.rps))
            .collect();
        let ratio = (!ratios.is_empty()).then(|| median(&mut ratios));
        let cpu = |i: usize| med(i, &|s| s.server_cpu).map_or("-".into(), |v| format!("{v:.2}"));
        let cost = |i: usize| {
            med(i, &|s| s.server_cpu / s.rps * 1e6).map_or("-".into(), |v| format!("{v:.2} µs"))
        };
        let _ = writeln!(
            table,
            "| {c} | {} | {} | {} | {} / {} | {} / {} |",
            cell(0),
            cell(1),
            ratio.map_or("-".into(), |r| format!("{r:.2}x")),
            cpu(0),
            cpu(1),
            cost(0),
            cost(1)
        );
        for i in 0..2 {
            let rs: Vec<String> = samples[i]
                .iter()
                .map(|s| s.as_ref().map_or("-".into(), |s| fmt_rps(s.rps)))
                .collect();
            let _ = write!(
                notes,
                "    {c} conns {:<6} {}",
                ["fibra", "tokio"][i],
                rs.join(", ")
            );
            if let Some(s) = samples[i].iter().flatten().last()
                && !s.note.is_empty()
            {
                let _ = write!(notes, "; server said: {}", s.note);
            }
            if let Some(f) = &failed[i] {
                let _ = write!(notes, "; {f}");
            }
            notes.push('\n');
        }
    }
    let mut out = format!(
        "`wrk -t1 -c<conns> -d{secs}s --latency`, {rounds} round{} per row (medians; ratio: median \
         of per-round ratios):\n\n",
        if rounds == 1 { "" } else { "s" }
    );
    out.push_str(&table);
    (out, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_latency_distribution_and_rate() {
        let out = "Running 2s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n\
            \x20 Latency Distribution\n     50%  456.00us\n     75%    1.01ms\n     99%    2.50ms\n\
            \x20 100000 requests in 2.00s, 8.00MB read\nRequests/sec:  50000.12\nTransfer/sec: 4.00MB\n";
        let (rps, p50, p99) = parse_wrk(out).unwrap();
        assert_eq!(rps, 50000.12);
        assert_eq!(p50, 456.0);
        assert_eq!(p99, 2500.0);
        assert!(
            parse_wrk(&format!(
                "{out}  Socket errors: connect 0, read 3, write 0, timeout 0\n"
            ))
            .is_err()
        );
    }
}
