//! The load generator (`net load ...`), run as a process of its own for every server.
//!
//! N connections, each doing ping-pong: write one message of SIZE bytes, read SIZE bytes
//! back (checking every byte is the one sent), record the round trip's latency, write
//! the next. After a warm-up it counts the round trips that started and finished inside
//! a window of SECS seconds and prints
//!
//! `result rps=.. p50_us=.. p99_us=.. p999_us=.. max_us=.. requests=.. errors=..
//! server_cpu=.. client_cpu=.. server_user=.. client_user=..`
//!
//! Why this shape: on a 2-CPU machine the load generator gets the CPU the one-thread
//! server does not use, so it must cost less per round trip than any server. It is one
//! thread (by default) running a level-triggered epoll loop over non-blocking sockets
//! with plain `read`/`write` syscalls: two syscalls per round trip plus one `epoll_wait`
//! per batch of ready connections, no allocation, no runtime, no locks. `--threads T`
//! splits the connections over T such loops. `server_cpu` and `client_cpu` (CPU time
//! over the window / window, from /proc/PID/stat) show which side was the bottleneck: a
//! server near 1.00 is saturated. `server_user` and `client_user` are the parts of that
//! time spent in user space (the rest is the kernel's: over loopback, most of it).

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What the load generator is asked to do.
pub(crate) struct LoadSpec {
    pub(crate) addr: SocketAddr,
    pub(crate) conns: usize,
    pub(crate) size: usize,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    pub(crate) threads: usize,
    /// Whose CPU time to report as `server_cpu`.
    pub(crate) server_pid: Option<u32>,
}

/// One connection's state in an event loop.
struct Conn {
    stream: TcpStream,
    /// The byte every message of this connection is made of (varies by connection, so a
    /// server that mixed up connections would be caught).
    fill: u8,
    /// Bytes of the current request written so far.
    written: usize,
    /// Bytes of the current response read so far.
    read: usize,
    sent_at: Instant,
    /// Registered for EPOLLOUT too (a short write is pending).
    want_write: bool,
    dead: bool,
}

/// What one event loop measured.
struct LoopResult {
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Runs the load and prints its `result` line; exits 1 when a connection failed.
pub(crate) fn run(spec: LoadSpec) {
    assert!(spec.conns > 0 && spec.size > 0 && spec.threads > 0);
    let threads = spec.threads.min(spec.conns);
    // Connect everything before the clock starts, and make one round trip on each
    // connection: a connection whose handshake the server's full accept queue dropped
    // (the client then retransmits, after 1 s or more) would otherwise join the
    // measurement late. Every connection is accepted and served once this is done.
    let connecting = Instant::now();
    let mut streams = Vec::with_capacity(spec.conns);
    let probe = vec![0xa5u8; spec.size];
    let mut back = vec![0u8; spec.size];
    for i in 0..spec.conns {
        let s = connect_and_probe(spec.addr, &probe, &mut back).unwrap_or_else(|e| {
            eprintln!("connection #{i} to {}: {e}", spec.addr);
            std::process::exit(1)
        });
        streams.push(s);
    }
    let connect_time = connecting.elapsed();
    let start = Instant::now() + Duration::from_millis(20);
    let window_start = start + spec.warmup;
    let window_end = window_start + spec.window;
    let mut per_thread: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        per_thread[i % threads].push(s);
    }
    let size = spec.size;
    let handles: Vec<_> = per_thread
        .into_iter()
        .enumerate()
        .map(|(t, conns)| {
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || event_loop(conns, t, size, start, window_start, window_end))
                .expect("spawn a load thread")
        })
        .collect();

    // The main thread only samples CPU times at the window's edges.
    sleep_until(window_start);
    let server_before = spec.server_pid.and_then(user_sys_ticks);
    let self_before = user_sys_ticks(std::process::id());
    sleep_until(window_end);
    let server_after = spec.server_pid.and_then(user_sys_ticks);
    let self_after = user_sys_ticks(std::process::id());

    let mut hist = new_hist();
    let (mut requests, mut errors, mut first_error) = (0, 0, None);
    for h in handles {
        let r = h.join().expect("load thread panicked");
        hist.add(&r.hist).expect("histograms of one shape");
        requests += r.requests;
        errors += r.errors;
        first_error = first_error.or(r.first_error);
    }
    let secs = spec.window.as_secs_f64();
    let ticks = clock_ticks_per_sec();
    let total = |t: Option<(u64, u64)>| t.map(|(u, s)| u + s);
    let share = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| match (total(a), total(b)) {
        (Some(a), Some(b)) => format!("{:.2}", (b - a) as f64 / ticks / secs),
        _ => "nan".into(),
    };
    // The part of a process's CPU time spent in user space (the rest is the kernel's).
    let user = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| match (a, b) {
        (Some(a), Some(b)) if total(Some(b)) > total(Some(a)) => format!(
            "{:.2}",
            (b.0 - a.0) as f64 / (total(Some(b)).unwrap() - total(Some(a)).unwrap()) as f64
        ),
        _ => "nan".into(),
    };
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "result rps={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} requests={requests} \
         errors={errors} server_cpu={} client_cpu={} server_user={} client_user={} conns={} \
         size={size} threads={threads} connect_ms={:.1}",
        requests as f64 / secs,
        us(0.5),
        us(0.99),
        us(0.999),
        hist.max() as f64 / 1000.0,
        share(server_before, server_after),
        share(self_before, self_after),
        user(server_before, server_after),
        user(self_before, self_after),
        spec.conns,
        connect_time.as_secs_f64() * 1e3,
    );
    if let Some(e) = first_error {
        eprintln!("{errors} connection(s) failed; first: {e}");
        std::process::exit(1);
    }
}

/// Connects, makes one round trip of `probe` (10 s at most), and returns the stream
/// non-blocking.
fn connect_and_probe(addr: SocketAddr, probe: &[u8], back: &mut [u8]) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(probe)?;
    s.read_exact(back)?;
    if back != probe {
        return Err(io::Error::other("the echo differs from what was sent"));
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

fn new_hist() -> Histogram<u64> {
    // Nanoseconds from 1 ns to 100 s, 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

pub(crate) fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process, in clock ticks, from /proc/PID/stat.
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    user_sys_ticks(pid).map(|(u, s)| u + s)
}

/// (utime, stime) of a process, in clock ticks.
fn user_sys_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are 12 and 13 of `rest` (which starts at 3).
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

struct Epoll(i32);

impl Epoll {
    fn new() -> Epoll {
        // SAFETY: epoll_create1 has no preconditions; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(fd >= 0, "epoll_create1: {}", io::Error::last_os_error());
        Epoll(fd)
    }

    fn ctl(&self, op: i32, fd: i32, events: u32, token: usize) {
        let mut ev = libc::epoll_event {
            events,
            u64: token as u64,
        };
        // SAFETY: both fds are open (the socket belongs to a live Conn) and `ev` is a
        // valid epoll_event for the duration of the call.
        let r = unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) };
        assert!(r == 0, "epoll_ctl: {}", io::Error::last_os_error());
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
        // SAFETY: `events` is writable for `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            assert!(e.kind() == io::ErrorKind::Interrupted, "epoll_wait: {e}");
            return 0;
        }
        n as usize
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn event_loop(
    streams: Vec<TcpStream>,
    thread: usize,
    size: usize,
    start: Instant,
    window_start: Instant,
    window_end: Instant,
) -> LoopResult {
    let epoll = Epoll::new();
    let mut conns: Vec<Conn> = streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| Conn {
            stream,
            fill: (thread * 7919 + i) as u8,
            written: 0,
            read: 0,
            sent_at: start,
            want_write: false,
            dead: false,
        })
        .collect();
    for (i, c) in conns.iter().enumerate() {
        epoll.ctl(
            libc::EPOLL_CTL_ADD,
            c.stream.as_raw_fd(),
            libc::EPOLLIN as u32,
            i,
        );
    }
    let mut out = LoopResult {
        hist: new_hist(),
        requests: 0,
        errors: 0,
        first_error: None,
    };
    // Each connection's message, made once.
    let messages: Vec<Vec<u8>> = conns.iter().map(|c| vec![c.fill; size]).collect();
    let mut scratch = vec![0u8; size.max(64 * 1024)];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];

    sleep_until(start);
    for i in 0..conns.len() {
        conns[i].sent_at = Instant::now();
        send(&epoll, &mut conns[i], i, &messages[i], &mut out);
    }
    loop {
        let now = Instant::now();
        if now >= window_end {
            break;
        }
        let timeout = (window_end - now).as_millis().min(100) as i32 + 1;
        let n = epoll.wait(&mut events, timeout);
        for ev in &events[..n] {
            let i = ev.u64 as usize;
            let c = &mut conns[i];
            if c.dead {
                continue;
            }
            if ev.events & libc::EPOLLOUT as u32 != 0 && c.want_write {
                send(&epoll, c, i, &messages[i], &mut out);
            }
            if ev.events & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                continue;
            }
            // Read what there is of the response.
            loop {
                let want = size - c.read;
                match c.stream.read(&mut scratch[..want.max(1)]) {
                    Ok(0) => {
                        fail(
                            &epoll,
                            c,
                            &mut out,
                            "the server closed the connection".into(),
                        );
                        break;
                    }
                    Ok(k) if k > want => unreachable!(),
                    Ok(k) => {
                        if scratch[..k].iter().any(|&b| b != c.fill) {
                            fail(
                                &epoll,
                                c,
                                &mut out,
                                "the echo differs from what was sent".into(),
                            );
                            break;
                        }
                        c.read += k;
                        if c.read < size {
                            continue;
                        }
                        if c.written < size {
                            fail(
                                &epoll,
                                c,
                                &mut out,
                                "a response before the request was sent".into(),
                            );
                            break;
                        }
                        // A whole round trip.
                        let done = Instant::now();
                        if c.sent_at >= window_start && done <= window_end {
                            let ns = (done - c.sent_at).as_nanos() as u64;
                            out.hist.record(ns.max(1)).expect("latency in range");
                            out.requests += 1;
                        }
                        c.read = 0;
                        c.written = 0;
                        c.sent_at = done;
                        send(&epoll, c, i, &messages[i], &mut out);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        fail(&epoll, c, &mut out, format!("read: {e}"));
                        break;
                    }
                }
            }
        }
    }
    out
}

/// Writes (the rest of) the connection's request; on a short write, waits for EPOLLOUT.
fn send(epoll: &Epoll, c: &mut Conn, token: usize, message: &[u8], out: &mut LoopResult) {
    while c.written < message.len() {
        match c.stream.write(&message[c.written..]) {
            Ok(k) => c.written += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !c.want_write {
                    c.want_write = true;
                    epoll.ctl(
                        libc::EPOLL_CTL_MOD,
                        c.stream.as_raw_fd(),
                        (libc::EPOLLIN | libc::EPOLLOUT) as u32,
                        token,
                    );
                }
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                fail(epoll, c, out, format!("write: {e}"));
                return;
            }
        }
    }
    if c.want_write {
        c.want_write = false;
        epoll.ctl(
            libc::EPOLL_CTL_MOD,
            c.stream.as_raw_fd(),
            libc::EPOLLIN as u32,
            token,
        );
    }
}

/// Counts a failed connection and stops polling it (it no longer takes part).
fn fail(epoll: &Epoll, c: &mut Conn, out: &mut LoopResult, why: String) {
    c.dead = true;
    epoll.ctl(libc::EPOLL_CTL_DEL, c.stream.as_raw_fd(), 0, 0);
    out.errors += 1;
    out.first_error.get_or_insert(why);
}
