//! The live tally: read every `results_refresh_ms`, and passed on to the results pages only
//! when it changed, so browsers are pushed an update when, and only when, the tally moves.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::watch;
use warren_service_kit::Stopping;

use crate::domain::Poll;
use crate::storage::{self, Tally};

pub type LiveTally = watch::Receiver<Option<Tally>>;

pub fn channel() -> (watch::Sender<Option<Tally>>, LiveTally) {
    watch::channel(None)
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
