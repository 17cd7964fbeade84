//! Worker threads that produce numbered items ahead of a consumer, delivered in order.
//!
//! Worker `w` of `n` produces items `w, w + n, w + 2n, …` and sends them on its own bounded
//! channel, so the consumer reads item `k` from worker `k % n` and gets items in order no
//! matter which worker finishes first, while each worker runs at most `prefetch` items ahead.
//! The pool knows nothing of datasets: it is handed a function from item number to item.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

/// The function a pool runs: item number to item.
pub(crate) type LoadFn<T> = Arc<dyn Fn(usize) -> T + Send + Sync>;

pub(crate) struct WorkerPool<T> {
    receivers: Vec<Receiver<T>>,
    handles: Vec<Option<JoinHandle<()>>>,
    /// Tells workers to stop before starting another item.
    stop: Arc<AtomicBool>,
    next: usize,
    count: usize,
}

impl<T: Send + 'static> WorkerPool<T> {
    /// Starts `workers` threads producing items `0..count` with `load`.
    pub(crate) fn spawn(workers: usize, prefetch: usize, count: usize, load: LoadFn<T>) -> WorkerPool<T> {
        assert!(workers > 0 && prefetch > 0, "WorkerPool: needs at least one worker and a prefetch of at least one");
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for worker in 0..workers {
            let (sender, receiver) = sync_channel(prefetch);
            let (load, stop) = (Arc::clone(&load), Arc::clone(&stop));
            let handle = thread::Builder::new()
                .name(format!("ignis-data-worker-{worker}"))
                .spawn(move || produce(worker, workers, count, &*load, &stop, sender))
                .unwrap_or_else(|e| panic!("DataLoader: could not start worker thread {worker}: {e}"));
            receivers.push(receiver);
            handles.push(Some(handle));
        }
        WorkerPool { receivers, handles, stop, next: 0, count }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.count - self.next
    }

    /// The next item in order; re-raises a worker's panic on this thread.
    pub(crate) fn next(&mut self) -> Option<T> {
        if self.next >= self.count {
            return None;
        }
        let item = self.next;
        let worker = item % self.receivers.len();
        match self.receivers[worker].recv() {
            Ok(value) => {
                self.next += 1;
                Some(value)
            }
            Err(_) => {
                // A worker only hangs up early when it panicked.
                self.next = self.count;
                let message = match self.handles[worker].take().map(JoinHandle::join) {
                    Some(Err(payload)) => panic_message(payload.as_ref()),
                    _ => "it stopped without producing the batch".to_string(),
                };
                panic!("DataLoader worker {worker} panicked while loading batch {item}: {message}");
            }
        }
    }
}

fn produce<T>(
    worker: usize,
    workers: usize,
    count: usize,
    load: &(dyn Fn(usize) -> T + Send + Sync),
    stop: &AtomicBool,
    sender: SyncSender<T>,
) {
    for item in (worker..count).step_by(workers) {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // A send fails only when the consumer is gone.
        if sender.send(load(item)).is_err() {
            return;
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

impl<T> Drop for WorkerPool<T> {
    /// Stops and joins the workers: dropping the receivers wakes any worker blocked on a full
    /// queue, and the stop flag keeps the others from starting another item.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.receivers.clear();
        for handle in self.handles.iter_mut().filter_map(Option::take) {
            // A worker's panic has either been reported by `next` or concerns an item nobody
            // will read; raising it here could abort during an unwind.
            let _ = handle.join();
        }
    }
}
