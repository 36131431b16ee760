//! Channels of fixed-size byte messages.

use super::error::{
    FIBRA_EAGAIN, FIBRA_ECLOSED, FIBRA_EINVAL, FIBRA_ETIMEDOUT, FIBRA_OK, check_not_cancelled,
    guard,
};
use super::handle::{self, Slot, handle_impl};
use super::{create_into, write_out};
use crate::channel::{
    Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError, TrySendError, bounded,
    unbounded,
};
use std::ffi::{c_int, c_void};
use std::sync::Mutex as StdMutex;

/// `capacity` for `fibra_channel_create`: no limit, a send never waits. In the header as
/// `SIZE_MAX` (cbindgen.toml's `after_includes`).
const FIBRA_CHANNEL_UNBOUNDED: usize = usize::MAX;

type Msg = Box<[u8]>;

/// The C channel: one receiver, and the sender `close` takes away.
pub(super) struct CChannel {
    msg_size: usize,
    /// `None` once closed. Senders clone it under the lock (never held across a wait), so
    /// a close waits for no send; sends already under way complete.
    tx: StdMutex<Option<Sender<Msg>>>,
    rx: Receiver<Msg>,
}

impl CChannel {
    fn sender(&self) -> Result<Sender<Msg>, c_int> {
        self.tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(FIBRA_ECLOSED)
    }

    /// Copies a message in.
    ///
    /// # Safety
    /// `msg` is readable for `msg_size` bytes (may be NULL if `msg_size` is 0).
    unsafe fn copy_in(&self, msg: *const c_void) -> Result<Msg, c_int> {
        if self.msg_size == 0 {
            return Ok(Box::default());
        }
        if msg.is_null() {
            return Err(FIBRA_EINVAL);
        }
        // SAFETY: the caller promises `msg_size` readable bytes.
        Ok(unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), self.msg_size) }.into())
    }

    /// Checks a receive buffer before anything is taken from the channel.
    fn check_out(&self, out: *mut c_void) -> Result<(), c_int> {
        if self.msg_size != 0 && out.is_null() {
            Err(FIBRA_EINVAL)
        } else {
            Ok(())
        }
    }

    /// Copies a message out.
    ///
    /// # Safety
    /// `out` passed `check_out` and is writable for `msg_size` bytes.
    unsafe fn copy_out(&self, msg: &Msg, out: *mut c_void) -> c_int {
        if self.msg_size != 0 {
            // SAFETY: the caller promises `msg_size` writable bytes; every message is
            // exactly `msg_size` long (copy_in).
            unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), out.cast::<u8>(), self.msg_size) };
        }
        FIBRA_OK
    }
}

/// A multi-producer multi-consumer channel of messages of one fixed size, copied in
/// by send and out by receive.
pub struct fibra_channel {
    slot: Slot<CChannel>,
}

handle_impl!(fibra_channel, CChannel, 0x0f1b_7a00_0000_0020);

/// Creates a channel of `msg_size`-byte messages buffering up to `capacity` of them, and
/// stores its handle in `*out`.
///
/// `capacity` 0 makes a rendezvous channel (a send completes when a receiver takes the
/// message); `FIBRA_CHANNEL_UNBOUNDED` makes a channel whose sends never wait. `msg_size`
/// may be 0 (messages carry no bytes, only their arrival).
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_create(
    msg_size: usize,
    capacity: usize,
    out: *mut *mut fibra_channel,
) -> c_int {
    guard(|| {
        let (tx, rx) = if capacity == FIBRA_CHANNEL_UNBOUNDED {
            unbounded()
        } else {
            bounded(capacity)
        };
        let ch = CChannel {
            msg_size,
            tx: StdMutex::new(Some(tx)),
            rx,
        };
        // SAFETY: the caller's contract.
        unsafe { create_into(out, ch) }
    })
}

/// Frees a channel and any messages still in it. Returns `FIBRA_OK`, or `FIBRA_EINVAL`
/// for a NULL / destroyed handle.
///
/// # Safety
/// `ch` is NULL or a handle from `fibra_channel_create`; no call on it starts during or after
/// this one (calls under way keep the object alive until they return).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_destroy(ch: *mut fibra_channel) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `destroy`'s.
        unsafe { handle::destroy(ch) }?;
        Ok(FIBRA_OK)
    })
}

/// Closes the channel for sending: later sends return `FIBRA_ECLOSED`; sends already
/// waiting complete normally; receivers get the messages still buffered, then
/// `FIBRA_ECLOSED`. Closing twice is fine.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// `ch` is NULL or a handle from `fibra_channel_create` whose destroy does not race with
/// the start of this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_close(ch: *const fibra_channel) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let ch = unsafe { handle::get(ch) }?;
        let tx = ch.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(tx);
        Ok(FIBRA_OK)
    })
}

/// Sends a copy of the `msg_size` bytes at `msg`, waiting while the channel is full.
///
/// Returns `FIBRA_OK`; `FIBRA_ECLOSED` if the channel is closed; `FIBRA_EINVAL` for a
/// NULL / destroyed handle, or a NULL `msg` with a non-zero `msg_size`;
/// `FIBRA_ECANCELED` if the calling fiber is being cancelled (nothing is sent).
///
/// # Safety
/// `ch` is NULL or a handle from `fibra_channel_create` whose destroy does not race with
/// the start of this call;
/// `msg` is NULL or readable for the channel's `msg_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_send(ch: *const fibra_channel, msg: *const c_void) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let ch = unsafe { handle::get(ch) }?;
        // SAFETY: the caller's contract.
        let m = unsafe { ch.copy_in(msg) }?;
        let tx = ch.sender()?;
        let m = match tx.try_send(m) {
            Ok(()) => return Ok(FIBRA_OK),
            Err(TrySendError::Full(m)) => m,
            Err(TrySendError::Disconnected(_)) => return Err(FIBRA_ECLOSED),
        };
        check_not_cancelled()?;
        tx.send(m).map(|()| FIBRA_OK).map_err(|_| FIBRA_ECLOSED)
    })
}

/// Sends like `fibra_channel_send` if there is room now; `FIBRA_EAGAIN` (nothing sent)
/// if the channel is full (or, for a rendezvous channel, no receiver is waiting).
///
/// # Safety
/// As for `fibra_channel_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_try_send(
    ch: *const fibra_channel,
    msg: *const c_void,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let ch = unsafe { handle::get(ch) }?;
        // SAFETY: the caller's contract.
        let m = unsafe { ch.copy_in(msg) }?;
        match ch.sender()?.try_send(m) {
            Ok(()) => Ok(FIBRA_OK),
            Err(TrySendError::Full(_)) => Err(FIBRA_EAGAIN),
            Err(TrySendError::Disconnected(_)) => Err(FIBRA_ECLOSED),
        }
    })
}

/// As `fibra_channel_send`, waiting at most `timeout_ns` nanoseconds for room:
/// `FIBRA_ETIMEDOUT` (nothing sent) if there was none in time.
///
/// # Safety
/// As for `fibra_channel_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_send_timeout(
    ch: *const fibra_channel,
    msg: *const c_void,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let ch = unsafe { handle::get(ch) }?;
        // SAFETY: the caller's contract.
        let m = unsafe { ch.copy_in(msg) }?;
        let tx = ch.sender()?;
        let m = match tx.try_send(m) {
            Ok(()) => return Ok(FIBRA_OK),
            Err(TrySendError::Full(m)) => m,
            Err(TrySendError::Disconnected(_)) => return Err(FIBRA_ECLOSED),
        };
        check_not_cancelled()?;
        let Some(deadline) = super::deadline_after(timeout_ns) else {
            return tx.send(m).map(|()| FIBRA_OK).map_err(|_| FIBRA_ECLOSED);
        };
        match tx.send_deadline(m, deadline) {
            Ok(()) => Ok(FIBRA_OK),
            Err(SendTimeoutError::Timeout(_)) => Err(FIBRA_ETIMEDOUT),
            Err(SendTimeoutError::Disconnected(_)) => Err(FIBRA_ECLOSED),
        }
    })
}

/// Receives a message into the `msg_size` bytes at `out`, waiting while the channel is
/// empty.
///
/// Returns `FIBRA_OK`; `FIBRA_ECLOSED` if the channel is closed and empty (and no send
/// is under way); `FIBRA_EINVAL` for a NULL / destroyed handle, or a NULL `out` with a
/// non-zero `msg_size` (nothing is taken then); `FIBRA_ECANCELED` if the calling fiber is
/// being cancelled (nothing is taken).
///
/// # Safety
/// `ch` is NULL or a handle from `fibra_channel_create` whose destroy does not race with
/// the start of this call;
/// `out` is NULL or writable for the channel's `msg_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_recv(ch: *const fibra_channel, out: *mut c_void) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let ch = unsafe { handle::get(ch) }?;
        ch.check_out(out)?;
        let m = match ch.rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Disconnected) => return Err(FIBRA_ECLOSED),
            Err(TryRecvError::Empty) => {
                check_not_cancelled()?;
                ch.rx.recv().map_err(|_| FIBRA_ECLOSED)?
            }
        };
        // SAFETY: the caller's contract; `out` passed `check_out`.
        Ok(unsafe { ch.copy_out(&m, out) })
    })
}

/// Receives like `fibra_channel_recv` if a message is there now; `FIBRA_EAGAIN` if the
/// channel is empty (`FIBRA_ECLOSED` if it is also closed).
///
/// # Safety
/// As for `fibra_channel_recv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_try_recv(
    ch: *const fibra_channel,
    out: *mut c_void,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let ch = unsafe { handle::get(ch) }?;
        ch.check_out(out)?;
        match ch.rx.try_recv() {
            // SAFETY: the caller's contract; `out` passed `check_out`.
            Ok(m) => Ok(unsafe { ch.copy_out(&m, out) }),
            Err(TryRecvError::Empty) => Err(FIBRA_EAGAIN),
            Err(TryRecvError::Disconnected) => Err(FIBRA_ECLOSED),
        }
    })
}

/// As `fibra_channel_recv`, waiting at most `timeout_ns` nanoseconds for a message:
/// `FIBRA_ETIMEDOUT` if none came in time.
///
/// # Safety
/// As for `fibra_channel_recv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_recv_timeout(
    ch: *const fibra_channel,
    out: *mut c_void,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let ch = unsafe { handle::get(ch) }?;
        ch.check_out(out)?;
        let m = match ch.rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Disconnected) => return Err(FIBRA_ECLOSED),
            Err(TryRecvError::Empty) => {
                check_not_cancelled()?;
                match super::deadline_after(timeout_ns) {
                    None => ch.rx.recv().map_err(|_| FIBRA_ECLOSED)?,
                    Some(d) => ch.rx.recv_deadline(d).map_err(|e| match e {
                        RecvTimeoutError::Timeout => FIBRA_ETIMEDOUT,
                        RecvTimeoutError::Disconnected => FIBRA_ECLOSED,
                    })?,
                }
            }
        };
        // SAFETY: the caller's contract; `out` passed `check_out`.
        Ok(unsafe { ch.copy_out(&m, out) })
    })
}

/// Stores the number of buffered messages in `*out`. Returns `FIBRA_OK`, or
/// `FIBRA_EINVAL` for a NULL / destroyed handle or NULL `out`.
///
/// # Safety
/// `ch` is NULL or a handle from `fibra_channel_create` whose destroy does not race with
/// the start of this call;
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_channel_len(ch: *const fibra_channel, out: *mut usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let n = unsafe { handle::get(ch) }?.rx.len();
        // SAFETY: the caller's contract.
        unsafe { write_out(out, n) }
    })
}
