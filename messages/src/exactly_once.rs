//! Exactly-once effect for PostgreSQL projections.
//!
//! A consumer claims the `message_id`s of a batch in the same transaction as the batch's
//! effects. Only newly claimed messages are applied; a redelivered message finds its id already
//! claimed and has no second effect. If the transaction rolls back, the claims roll back too.
//!
//! Claims are kept for a retention horizon ([`Retention`]) and then pruned by a background task
//! of each projecting service ([`keep_pruned`]).

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::Pool;
use serde::Deserialize;
use tokio_postgres::Transaction;
use uuid::Uuid;

const APPLIED_MESSAGES_SQL: &str = "\
CREATE TABLE applied_messages (
    consumer    TEXT        NOT NULL,
    message_id  UUID        NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
";

/// The migrations every projecting database needs before its own (they start at V1; a
/// service's own migrations start at V2).
pub fn migrations() -> Vec<refinery::Migration> {
    vec![
        refinery::Migration::unapplied("V1__applied_messages", APPLIED_MESSAGES_SQL)
            .expect("the applied_messages migration has a valid name"),
    ]
}

/// Claims `ids` for `consumer` inside `transaction`; returns those not claimed before.
pub async fn claim(
    transaction: &Transaction<'_>,
    consumer: &str,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>, tokio_postgres::Error> {
    if crate::sabotage::active(crate::sabotage::Sabotage::SkipClaim) {
        return Ok(ids.iter().copied().collect());
    }
    let rows = transaction
        .query(
            "INSERT INTO applied_messages (consumer, message_id) \
             SELECT $1, id FROM unnest($2::uuid[]) AS id \
             ON CONFLICT DO NOTHING RETURNING message_id",
            &[&consumer, &ids],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// The messages of `batch` that `consumer` has not applied before, claimed inside `transaction`
/// (see [`claim`]), in batch order: the projection applies exactly these, then commits.
pub async fn claim_batch<'m, M: ?Sized>(
    transaction: &Transaction<'_>,
    consumer: &str,
    batch: &[&'m M],
    message_id: impl Fn(&M) -> Uuid,
) -> Result<Vec<&'m M>, tokio_postgres::Error> {
    let ids: Vec<Uuid> = batch.iter().map(|message| message_id(message)).collect();
    let claimed = claim(transaction, consumer, &ids).await?;
    Ok(batch
        .iter()
        .zip(ids)
        .filter(|(_, id)| claimed.contains(id))
        .map(|(message, _)| *message)
        .collect())
}

/// Applies each message of `batch` that `consumer` has not applied before with `apply`, inside
/// `transaction` together with their claims, and commits: the batch takes effect once, whole.
pub async fn apply_batch<M: ?Sized>(
    transaction: deadpool_postgres::Transaction<'_>,
    consumer: &str,
    batch: &[&M],
    message_id: impl Fn(&M) -> Uuid,
    apply: impl AsyncFn(&Transaction<'_>, &M) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for message in claim_batch(&transaction, consumer, batch, message_id).await? {
        apply(&*transaction, message).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// How long claims are kept: `applied_messages` would otherwise grow forever.
///
/// A claim only has to outlive every way the same message can arrive again: an unacknowledged
/// delivery returned after a crash (seconds), a batch retried in place (`retry_in_place_ms`)
/// and then through the `.retry` queue (its TTL), a producer's retry with the same envelope, an
/// outbox row published again after a crash (seconds). The default of seven days exceeds all of
/// them by far. What may arrive later still — locker-service re-publishes a request's stored
/// outcome, with the same `message_id`, whenever the request is redelivered, however late — must
/// be idempotent by the projection's own state, not by the claim (user-service ignores an
/// outcome for a request whose outcome it already recorded; votes never move backwards; records
/// are inserted once and their deletions remembered).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Claims older than this many hours are deleted.
    pub horizon_hours: u64,
    /// Most claims deleted by one statement, so that pruning never holds long locks.
    pub prune_batch: i64,
    /// Seconds between two prunes.
    pub prune_interval_secs: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            horizon_hours: 7 * 24,
            prune_batch: 1_000,
            prune_interval_secs: 600,
        }
    }
}

impl Retention {
    pub fn horizon(&self) -> Duration {
        Duration::from_secs(self.horizon_hours.saturating_mul(3600))
    }
}

/// The index that lets pruning find old claims without scanning the table. It is applied by
/// [`prune`] with its own refinery history table (`refinery_applied_messages_history`): the
/// shared table's later changes must not take a version number from a service's own sequence,
/// which starts at V2 and grows independently in every service.
const APPLIED_MESSAGES_BY_AGE_SQL: &str = "\
CREATE INDEX IF NOT EXISTS applied_messages_by_age ON applied_messages (applied_at);
";

async fn migrate_retention(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    let migrations = vec![
        refinery::Migration::unapplied("V1__applied_messages_by_age", APPLIED_MESSAGES_BY_AGE_SQL)
            .expect("the applied_messages index migration has a valid name"),
    ];
    let mut runner = refinery::Runner::new(&migrations);
    runner.set_migration_table_name("refinery_applied_messages_history");
    runner
        .run_async(client)
        .await
        .context("indexing applied_messages by age")?;
    Ok(())
}

/// Deletes at most `batch` claims older than `horizon`; returns how many it deleted. Rows
/// another pruner holds are skipped, so several instances prune side by side.
pub async fn prune_batch(
    client: &tokio_postgres::Client,
    horizon: Duration,
    batch: i64,
) -> Result<u64, tokio_postgres::Error> {
    let horizon_secs = i64::try_from(horizon.as_secs()).unwrap_or(i64::MAX);
    client
        .execute(
            "DELETE FROM applied_messages WHERE (consumer, message_id) IN (\
                 SELECT consumer, message_id FROM applied_messages \
                 WHERE applied_at < now() - make_interval(secs => $1::bigint) \
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&horizon_secs, &batch],
        )
        .await
}

/// Deletes every claim older than the horizon, in batches; returns how many it deleted.
pub async fn prune(pool: &Pool, retention: &Retention) -> anyhow::Result<u64> {
    let mut client = pool.get().await.context("no PostgreSQL connection")?;
    migrate_retention(&mut client).await?;
    let batch = retention.prune_batch.max(1);
    let mut total = 0;
    loop {
        let deleted = prune_batch(&client, retention.horizon(), batch)
            .await
            .context("pruning applied_messages")?;
        total += deleted;
        if deleted < batch.unsigned_abs() {
            return Ok(total);
        }
    }
}

/// A service's background task: prunes `applied_messages` now and every
/// `prune_interval_secs` until `stopping` completes. A failure (database down) is logged and
/// tried again at the next interval.
pub async fn keep_pruned(pool: Pool, retention: Retention, stopping: impl Future<Output = ()>) {
    tokio::pin!(stopping);
    let pruned = metrics::counter!("warren_applied_messages_pruned_total");
    let interval = Duration::from_secs(retention.prune_interval_secs.max(1));
    loop {
        tokio::select! {
            biased;
            () = &mut stopping => return,
            result = prune(&pool, &retention) => match result {
                Ok(0) => {}
                Ok(deleted) => {
                    pruned.increment(deleted);
                    tracing::info!(deleted, horizon_hours = retention.horizon_hours, "pruned applied_messages");
                }
                Err(error) => tracing::warn!(error = %format!("{error:#}"), "cannot prune applied_messages; will retry"),
            },
        }
        tokio::select! {
            () = &mut stopping => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
