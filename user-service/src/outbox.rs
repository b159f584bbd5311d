//! The transactional outbox: events user-service decides to send are written in the same
//! transaction as the decision, and published after the commit. The message that caused them is
//! acknowledged only once they are confirmed, so a crash between the commit and the publish
//! ends in a redelivery that finds its effects applied and publishes what is still here.
//! Copies published twice carry the same `message_id`, which consumers deduplicate.

use deadpool_postgres::Pool;
use tokio_postgres::Transaction;
use warren_messages::events::lockers::{LockerReleaseRequested, LockerRequested};
use warren_messages::{Envelope, Event, Publisher, envelope};

/// The events user-service sends.
pub enum Outgoing {
    Request(Envelope<LockerRequested>),
    Release(Envelope<LockerReleaseRequested>),
}

impl Outgoing {
    fn parts(&self) -> anyhow::Result<(uuid::Uuid, &'static str, String)> {
        Ok(match self {
            Self::Request(envelope) => (
                envelope.message_id,
                LockerRequested::TYPE,
                serde_json::to_string(envelope)?,
            ),
            Self::Release(envelope) => (
                envelope.message_id,
                LockerReleaseRequested::TYPE,
                serde_json::to_string(envelope)?,
            ),
        })
    }
}

/// Writes `message` into the outbox inside `transaction`.
pub async fn stage(transaction: &Transaction<'_>, message: &Outgoing) -> anyhow::Result<()> {
    let (message_id, event_type, body) = message.parts()?;
    transaction
        .execute(
            "INSERT INTO outbox (message_id, event_type, body) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            &[&message_id, &event_type, &body],
        )
        .await?;
    Ok(())
}

/// Publishes everything in the outbox, oldest first, and deletes what the broker confirmed.
/// Rows are locked while they are published, so concurrent instances do not send them twice.
pub async fn flush(pool: &Pool, publisher: &Publisher) -> anyhow::Result<()> {
    loop {
        let mut client = pool.get().await?;
        let transaction = client.transaction().await?;
        let rows = transaction
            .query(
                "DELETE FROM outbox WHERE message_id IN (\
                     SELECT message_id FROM outbox ORDER BY created_at, message_id \
                     LIMIT 100 FOR UPDATE SKIP LOCKED) \
                 RETURNING created_at, event_type, body",
                &[],
            )
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<(chrono::DateTime<chrono::Utc>, String, String)> = rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        rows.sort_by_key(|(created_at, _, _)| *created_at);
        for (_, event_type, body) in &rows {
            publish(publisher, event_type, body.as_bytes()).await?;
        }
        transaction.commit().await?;
    }
}

async fn publish(publisher: &Publisher, event_type: &str, body: &[u8]) -> anyhow::Result<()> {
    match event_type {
        LockerRequested::TYPE => {
            publisher
                .publish(&envelope::decode::<LockerRequested>(body)?)
                .await?
        }
        LockerReleaseRequested::TYPE => {
            publisher
                .publish(&envelope::decode::<LockerReleaseRequested>(body)?)
                .await?
        }
        other => anyhow::bail!("the outbox holds an event of unknown type {other:?}"),
    }
    Ok(())
}
