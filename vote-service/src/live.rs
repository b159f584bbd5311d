//! The live tally: read every `results_refresh_ms`, and passed on to the results pages only
//! when it changed, so browsers are pushed an update when, and only when, the tally moves.
//! `Streams` caps how many results pages may hold a stream at once.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use warren_service_kit::Stopping;

use crate::domain::Poll;
use crate::storage::{self, Tally};

pub type LiveTally = watch::Receiver<Option<Tally>>;

pub fn channel() -> (watch::Sender<Option<Tally>>, LiveTally) {
    watch::channel(None)
}

/// The gauge of results streams open in this instance.
pub const STREAMS_OPEN: &str = "warren_results_streams_open";

/// The results streams this instance serves at once: each holds a connection and a task, so
/// they are capped (`results.max_streams`) and counted (`warren_results_streams_open`).
#[derive(Clone)]
pub struct Streams {
    open: Arc<Semaphore>,
}

/// One open stream; dropping it (the browser went away) makes room for another.
pub struct Stream {
    _permit: OwnedSemaphorePermit,
}

impl Streams {
    pub fn new(max: usize) -> Self {
        metrics::gauge!(STREAMS_OPEN).set(0.0);
        Self {
            open: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A place for one more stream, if there is one.
    pub fn open(&self) -> Option<Stream> {
        let permit = self.open.clone().try_acquire_owned().ok()?;
        metrics::gauge!(STREAMS_OPEN).increment(1.0);
        Some(Stream { _permit: permit })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        metrics::gauge!(STREAMS_OPEN).decrement(1.0);
    }
}

/// Reads the tally until stopping; sends it on only when it differs from the last one.
pub async fn refresh(
    pool: Pool,
    poll: Arc<Poll>,
    every: Duration,
    sender: watch::Sender<Option<Tally>>,
    stopping: Stopping,
) {
    let stopped = stopping.wait();
    tokio::pin!(stopped);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            _ = tick.tick() => {}
        }
        match storage::tally(&pool, &poll).await {
            Ok(tally) => {
                sender.send_if_modified(|current| {
                    let changed = current.as_ref() != Some(&tally);
                    if changed {
                        *current = Some(tally);
                    }
                    changed
                });
            }
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "cannot read the tally"),
        }
    }
}
