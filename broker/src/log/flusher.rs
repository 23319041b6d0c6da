//! Group commit: one task fsyncs every dirty partition, then wakes every producer whose append
//! came before that fsync started. Many acks=1/all produce requests share one fsync per window.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Something the flusher can make durable (a partition).
pub trait Durable: Send + Sync {
    /// The flag saying "already queued for the next flush"; read and written only under the
    /// flusher's queue lock.
    fn queued_flag(&self) -> &std::sync::atomic::AtomicBool;
    /// Makes everything appended so far durable.
    fn make_durable(&self) -> std::io::Result<()>;
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("fsync failed: {0}")]
pub struct FlushError(pub String);

#[derive(Clone, Copy, Default)]
struct Progress {
    completed: u64,
    last_failed: u64,
}

struct Inner {
    queue: Mutex<Vec<Arc<dyn Durable>>>,
    requested: AtomicU64,
    progress: watch::Sender<Progress>,
    wake: Notify,
    window: Duration,
}

/// Handle to the group-commit task.
#[derive(Clone)]
pub struct Flusher {
    inner: Arc<Inner>,
}

impl Flusher {
    /// Starts the flusher task. `window` is how long it lets appends accumulate before an fsync.
    pub fn start(window: Duration) -> Self {
        let (progress, _) = watch::channel(Progress::default());
        let inner = Arc::new(Inner {
            queue: Mutex::new(Vec::new()),
            requested: AtomicU64::new(0),
            progress,
            wake: Notify::new(),
            window,
        });
        tokio::spawn(run(Arc::clone(&inner)));
        Flusher { inner }
    }

    /// Queues `target` for the next fsync; call after appending. Returns a ticket to wait on.
    pub fn mark(&self, target: Arc<dyn Durable>) -> u64 {
        {
            let mut q = self
                .inner
                .queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !target.queued_flag().swap(true, Ordering::SeqCst) {
                q.push(target);
            }
        }
        let ticket = self.inner.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner.wake.notify_one();
        ticket
    }

    /// Waits until an fsync that started after `ticket` was issued has completed.
    pub async fn wait(&self, ticket: u64) -> Result<(), FlushError> {
        let mut rx = self.inner.progress.subscribe();
        let p = rx
            .wait_for(|p| p.completed >= ticket)
            .await
            .map_err(|_| FlushError("the flusher stopped".into()))?;
        if p.last_failed >= ticket {
            return Err(FlushError("a write could not be made durable".into()));
        }
        Ok(())
    }

    /// Flushes everything queued now and waits for it (used on shutdown).
    pub async fn flush_all(&self) -> Result<(), FlushError> {
        let ticket = self.inner.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner.wake.notify_one();
        self.wait(ticket).await
    }
}

async fn run(inner: Arc<Inner>) {
    loop {
        inner.wake.notified().await;
        if !inner.window.is_zero() {
            tokio::time::sleep(inner.window).await;
        }
        let target = inner.requested.load(Ordering::SeqCst);
        let batch: Vec<Arc<dyn Durable>> = {
            let mut q = inner
                .queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for d in q.iter() {
                d.queued_flag().store(false, Ordering::SeqCst);
            }
            std::mem::take(&mut *q)
        };
        // fsync the dirty partitions concurrently: the filesystem coalesces them into fewer
        // journal commits than one-after-another would cost.
        let syncs: Vec<_> = batch
            .into_iter()
            .map(|d| tokio::task::spawn_blocking(move || d.make_durable()))
            .collect();
        let mut failed = false;
        for s in syncs {
            match s.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "fsync failed");
                    failed = true;
                }
                Err(_) => failed = true,
            }
        }
        inner.progress.send_modify(|p| {
            p.completed = p.completed.max(target);
            if failed {
                p.last_failed = target;
            }
        });
        if Arc::strong_count(&inner) == 1 {
            return;
        }
    }
}
