//! Targets without a poller (and loom builds): workers park on the thread driver, and
//! sockets and files make plain blocking calls.

use super::IoBackend;
use crate::runtime::park::{Driver, ThreadDriver};
use core::time::Duration;

/// What a worker parks on.
pub(crate) type WorkerDriver = ThreadDriver;

/// A worker's poller: none here.
pub(crate) struct WorkerIo;

impl WorkerIo {
    /// Parks on the thread driver.
    pub(crate) fn park(&self, driver: &WorkerDriver, timeout: Option<Duration>) {
        driver.park(timeout);
    }

    /// Nothing to flush or reap.
    pub(crate) fn poll_now(&self, _driver: &WorkerDriver) {}
}

/// A worker's driver and poller.
pub(crate) fn new_worker(_backend: IoBackend) -> std::io::Result<(WorkerDriver, WorkerIo)> {
    Ok((ThreadDriver::new(), WorkerIo))
}
