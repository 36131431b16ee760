//! A miniature scheduler that follows the worker-loop rules of the `park` module docs,
//! shared by the stress test and the loom models.
//!
//! Tasks are counted, not stored. The shared queue is a count: taking a task is a load that
//! may see it empty, then a CAS, like a real run queue's `is_empty`-then-steal. Each worker
//! also has an [`Inbox`] of tasks only it may run.

use super::{Driver, Idle, ThreadDriver};
use crate::loom::{AtomicUsize, Ordering};
use crate::runtime::inbox::Inbox;

/// What a task does when it runs (see `Sim::task`).
type Task = Box<dyn Fn(&Sim, usize) + Send + Sync>;

pub(super) struct Sim {
    pub(super) idle: Idle,
    pub(super) drivers: Vec<ThreadDriver>,
    inboxes: Vec<Inbox<()>>,
    /// Tasks in the shared queue.
    queued: AtomicUsize,
    /// Tasks started so far.
    done: AtomicUsize,
    /// The run stops once this many tasks have started.
    total: usize,
    shutdown: AtomicUsize,
    /// Runs as task number `n` (from 1, in the order tasks start): may push more tasks,
    /// or wait for other tasks (a long-running fiber).
    task: Task,
}

impl Sim {
    pub(super) fn new(
        workers: usize,
        total: usize,
        task: impl Fn(&Sim, usize) + Send + Sync + 'static,
    ) -> Self {
        Sim {
            idle: Idle::new(workers),
            drivers: (0..workers).map(|_| ThreadDriver::new()).collect(),
            inboxes: (0..workers).map(|_| Inbox::new()).collect(),
            queued: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            total,
            shutdown: AtomicUsize::new(0),
            task: Box::new(task),
        }
    }

    /// Rule 1: publish, then notify.
    pub(super) fn push(&self) {
        self.queued.fetch_add(1, Ordering::Release);
        self.idle.notify_one(&self.drivers);
    }

    /// A task only worker `to` may run (a started fiber woken from another thread).
    pub(super) fn send(&self, to: usize) {
        if self.inboxes[to].push(()) {
            self.drivers[to].unpark();
        }
    }

    fn has_work(&self) -> bool {
        self.queued.load(Ordering::Acquire) != 0
    }

    fn try_take(&self) -> bool {
        let mut n = self.queued.load(Ordering::Acquire);
        while n != 0 {
            match self
                .queued
                .compare_exchange(n, n - 1, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
        false
    }

    pub(super) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire) != 0
    }

    pub(super) fn done(&self) -> usize {
        self.done.load(Ordering::Acquire)
    }

    #[cfg(not(loom))]
    pub(super) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Runs a task; a searching worker stops searching first (rule 3).
    fn run_task(&self, searching: &mut bool) {
        if *searching {
            *searching = false;
            if self.idle.transition_worker_from_searching() {
                self.idle.notify_one(&self.drivers);
            }
        }
        let n = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        (self.task)(self, n);
        if n == self.total {
            self.shutdown.store(1, Ordering::Release);
            for d in &self.drivers {
                d.unpark();
            }
        }
    }

    /// Worker `id`'s loop, until shutdown.
    pub(super) fn worker(&self, id: usize) {
        let inbox = &self.inboxes[id];
        let mut searching = false;
        loop {
            // Own work first.
            if inbox.pop().is_some() {
                self.run_task(&mut searching);
                continue;
            }
            // Rule 2: search before sleeping (this model has no local run queues).
            if !searching {
                searching = self.idle.transition_worker_to_searching();
            }
            if searching && self.try_take() {
                self.run_task(&mut searching);
                continue;
            }
            if self.is_shutdown() {
                return;
            }
            // Rule 4: look once more when told; own inbox last.
            if self.idle.worker_to_parked(id, searching) && self.has_work() {
                self.idle.notify_one(&self.drivers);
            }
            if !inbox.is_empty() {
                // Rule 5's case of work of our own, before even parking.
                searching = !self.idle.unpark_worker_by_id(id);
                continue;
            }
            // Rule 5: sort out the wake-up.
            loop {
                if self.is_shutdown() {
                    return;
                }
                self.drivers[id].park(None);
                if !inbox.is_empty() {
                    searching = !self.idle.unpark_worker_by_id(id);
                    break;
                }
                if !self.idle.is_parked(id) {
                    searching = true;
                    break;
                }
            }
        }
    }
}
