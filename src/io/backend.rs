//! Which I/O backend runs, chosen once per process.

use std::fmt;
use std::io;

/// The I/O backend a runtime's fibers use (see [`Runtime::io_backend`](crate::Runtime::io_backend)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoBackend {
    /// Linux io_uring: one ring per worker.
    IoUring,
    /// Linux epoll: one epoll instance per worker (io_uring unavailable or `FIBRA_IO=epoll`).
    Epoll,
    /// No poller (targets other than Linux): sockets and files make blocking calls.
    Blocking,
}

impl fmt::Display for IoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoBackend::IoUring => "io_uring",
            IoBackend::Epoll => "epoll",
            IoBackend::Blocking => "blocking",
        })
    }
}

/// The backend of this process: detected once (the first runtime built decides), or
/// forced with `FIBRA_IO=epoll` / `FIBRA_IO=uring`. Fails if `FIBRA_IO` names an
/// unknown backend, or asks for io_uring where it is unavailable.
pub(crate) fn process_backend() -> io::Result<IoBackend> {
    use std::sync::OnceLock;
    static CHOSEN: OnceLock<Result<IoBackend, (io::ErrorKind, String)>> = OnceLock::new();
    CHOSEN
        .get_or_init(choose)
        .clone()
        .map_err(|(kind, msg)| io::Error::new(kind, msg))
}

fn choose() -> Result<IoBackend, (io::ErrorKind, String)> {
    let forced = std::env::var("FIBRA_IO").ok();
    match forced.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => Ok(detect()),
        Some("epoll") if cfg!(all(target_os = "linux", not(loom))) => Ok(IoBackend::Epoll),
        Some("uring" | "io_uring") => probe_uring().map(|()| IoBackend::IoUring).map_err(|e| {
            (
                io::ErrorKind::Unsupported,
                format!("fibra: FIBRA_IO=uring, but io_uring is unavailable: {e}"),
            )
        }),
        Some(other) => Err((
            io::ErrorKind::InvalidInput,
            format!(
                "fibra: FIBRA_IO={other:?} is not a backend this build supports (use epoll, uring or auto)"
            ),
        )),
    }
}

#[cfg(all(target_os = "linux", not(loom)))]
fn detect() -> IoBackend {
    match probe_uring() {
        Ok(()) => IoBackend::IoUring,
        Err(_) => IoBackend::Epoll,
    }
}

#[cfg(not(all(target_os = "linux", not(loom))))]
fn detect() -> IoBackend {
    IoBackend::Blocking
}

#[cfg(not(all(target_os = "linux", not(loom))))]
fn probe_uring() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "io_uring exists on Linux only",
    ))
}

/// Creates a small ring, checks the features and opcodes fibra uses, and runs a NOP
/// through it. ENOSYS (old kernel, qemu-user), EPERM (seccomp, `io_uring_disabled`) and
/// EINVAL all come back as errors.
#[cfg(all(target_os = "linux", not(loom)))]
fn probe_uring() -> io::Result<()> {
    use io_uring::{IoUring, Probe, opcode};
    let mut ring: IoUring = IoUring::new(8)?;
    if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring lacks EXT_ARG or NODROP (kernel older than 5.11)",
        ));
    }
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    let needed = [
        opcode::Nop::CODE,
        opcode::Recv::CODE,
        opcode::Send::CODE,
        opcode::PollAdd::CODE,
        opcode::Read::CODE,
        opcode::Write::CODE,
        opcode::Fsync::CODE,
        opcode::AsyncCancel::CODE,
        opcode::LinkTimeout::CODE,
    ];
    if let Some(missing) = needed.iter().find(|&&op| !probe.is_supported(op)) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("io_uring lacks opcode {missing}"),
        ));
    }
    let nop = opcode::Nop::new().build().user_data(42);
    // SAFETY: a NOP references no memory.
    unsafe { ring.submission().push(&nop) }
        .map_err(|_| io::Error::other("io_uring: submission queue full"))?;
    ring.submit_and_wait(1)?;
    let cqe = ring
        .completion()
        .next()
        .ok_or_else(|| io::Error::other("io_uring: NOP did not complete"))?;
    if cqe.user_data() != 42 || cqe.result() < 0 {
        return Err(io::Error::from_raw_os_error(-cqe.result().min(-1)));
    }
    Ok(())
}
