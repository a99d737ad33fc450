//! Fresh environments for `isolation = "per-request"`, prepared ahead of demand: a background
//! task makes the next ones and tears down used ones (the pooling allocator resets their slots
//! then), so a request pays for its call, not for instantiation and reset.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Fresh environments kept ready per function.
pub const READY: usize = 2;
/// Used environments left for the background task before a request tears one down itself (so a
/// task that falls behind cannot hold pool slots without bound).
const MAX_USED: usize = READY;

/// The ready and used environments (`E`) of one per-request function.
pub(super) struct Prepared<E> {
    lists: Arc<Lists<E>>,
    started: AtomicBool,
}

struct Lists<E> {
    ready: Mutex<Vec<E>>,
    used: Mutex<Vec<E>>,
    wake: Notify,
    stopped: AtomicBool,
}

impl<E: Send + 'static> Prepared<E> {
    /// Nothing prepared yet; the task starts with the first invocation.
    pub(super) fn new() -> Self {
        Prepared {
            lists: Arc::new(Lists {
                ready: Mutex::new(Vec::new()),
                used: Mutex::new(Vec::new()),
                wake: Notify::new(),
                stopped: AtomicBool::new(false),
            }),
            started: AtomicBool::new(false),
        }
    }

    /// A fresh environment, if one is ready.
    pub(super) fn take(&self) -> Option<E> {
        self.lists.ready.lock().expect("prepared lock").pop()
    }

    /// Hands a used environment to the background task (or drops it here if the task is
    /// behind), and asks the task for a fresh one.
    pub(super) fn retire(&self, env: E) {
        let mut used = self.lists.used.lock().expect("prepared lock");
        if used.len() >= MAX_USED {
            drop(used);
            drop(env);
        } else {
            used.push(env);
            drop(used);
        }
        self.lists.wake.notify_one();
    }

    /// Starts the background task on the current tokio runtime, once. `make` starts making one
    /// environment, or returns `None` when the function is gone.
    pub(super) fn start<M, F>(&self, make: M)
    where
        M: Fn() -> Option<F> + Send + 'static,
        F: Future<Output = Result<E, String>> + Send + 'static,
    {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.started.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(refill(self.lists.clone(), make));
    }
}

impl<E> Drop for Prepared<E> {
    /// Ends the background task; what it holds is dropped with it.
    fn drop(&mut self) {
        self.lists.stopped.store(true, Ordering::Release);
        self.lists.wake.notify_one();
    }
}

/// Keeps the ready list full and the used list empty until the function is dropped.
async fn refill<E, M, F>(lists: Arc<Lists<E>>, make: M)
where
    M: Fn() -> Option<F>,
    F: Future<Output = Result<E, String>>,
{
    while !lists.stopped.load(Ordering::Acquire) {
        let used = std::mem::take(&mut *lists.used.lock().expect("prepared lock"));
        drop(used);
        while lists.ready.lock().expect("prepared lock").len() < READY {
            let Some(making) = make() else { return };
            match making.await {
                Ok(env) => lists.ready.lock().expect("prepared lock").push(env),
                // Logged by `make`; the next request cold-starts inline, and asks again.
                Err(_) => break,
            }
        }
        lists.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    async fn until(what: impl Fn() -> bool) {
        for _ in 0..200 {
            if what() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("condition not reached in 1 s");
    }

    /// The task fills the ready list, replaces what a request takes, tears down what it
    /// retires, and stops making environments once the function's pool is dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn environments_are_made_ahead_and_replaced_off_the_request_path() {
        let made = Arc::new(AtomicUsize::new(0));
        let prepared = Prepared::<usize>::new();
        assert!(prepared.take().is_none(), "nothing before the task starts");
        let counter = made.clone();
        prepared.start(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            Some(async move { Ok(n) })
        });
        until(|| made.load(Ordering::SeqCst) == READY).await;
        let taken = prepared.take().expect("one is ready");
        prepared.retire(taken);
        until(|| made.load(Ordering::SeqCst) == READY + 1).await;
        until(|| prepared.lists.used.lock().unwrap().is_empty()).await;
        let lists = prepared.lists.clone();
        drop(prepared);
        until(|| Arc::strong_count(&lists) == 1).await;
        assert_eq!(
            made.load(Ordering::SeqCst),
            READY + 1,
            "no environment after the drop"
        );
    }
}
