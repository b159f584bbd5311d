//! The transactional outbox: events user-service decides to send are written in the same
//! transaction as the decision, and a relay publishes them after the commit. The committed row
//! is the promise, so the message that caused it is acknowledged after the commit without
//! waiting for the broker: a blocked or slow publisher never holds up the consumer.
//!
//! The relay ([`Relay::run`], a background task of the application) is woken by every commit of
//! the consumer and otherwise looks at the table on a short poll that backs off while the table
//! is empty, so rows left behind by an instance that stopped or crashed between its commit and
//! the publish go out without new traffic. It takes the oldest rows with `FOR UPDATE SKIP
//! LOCKED` (instances share the table and never send one row at the same time), publishes them
//! with their confirms in flight together, and deletes only the confirmed ones. A row that can
//! never be published (an unknown event type, a body that does not decode, a message the broker
//! cannot route) is moved to `outbox_dead` with its reason, counted and logged, so the rows
//! behind it keep flowing; a transient failure (the broker down, slow or refusing for now)
//! leaves the row where it is, to be tried again with backoff.
//!
//! A row published twice (a crash between the confirm and the delete) carries the same
//! `message_id` both times, which locker-service deduplicates.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures::future::join_all;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_postgres::Transaction;
use uuid::Uuid;
use warren_messages::events::lockers::{LockerReleaseRequested, LockerRequested};
use warren_messages::{Broker, Envelope, Event, PublishError, Publisher, envelope};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// Rows taken and published together, their confirms in flight at once.
    pub batch_size: i64,
    /// How soon the relay looks again after finding nothing; doubles while the outbox is empty.
    pub poll_ms: u64,
    /// The longest wait between two looks, and the longest backoff after a failure.
    pub max_poll_ms: u64,
}

/// The events user-service sends.
pub enum Outgoing {
    Request(Envelope<LockerRequested>),
    Release(Envelope<LockerReleaseRequested>),
}

impl Outgoing {
    fn parts(&self) -> anyhow::Result<(Uuid, &'static str, String)> {
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

    /// Reads a row back; an error says why it can never be published.
    fn decode(event_type: &str, body: &str) -> Result<Self, Poison> {
        let undecodable = |error: envelope::DecodeError| Poison {
            kind: "undecodable",
            reason: format!("the body is not a {event_type} envelope: {error}"),
        };
        match event_type {
            LockerRequested::TYPE => envelope::decode(body.as_bytes())
                .map(Self::Request)
                .map_err(undecodable),
            LockerReleaseRequested::TYPE => envelope::decode(body.as_bytes())
                .map(Self::Release)
                .map_err(undecodable),
            other => Err(Poison {
                kind: "unknown-type",
                reason: format!("user-service sends no event of type {other:?}"),
            }),
        }
    }

    async fn publish(&self, publisher: &Publisher) -> Result<(), PublishError> {
        match self {
            Self::Request(envelope) => publisher.publish(envelope).await,
            Self::Release(envelope) => publisher.publish(envelope).await,
        }
    }
}

/// Why a row can never be published: `kind` labels the metric, `reason` is stored with the row.
struct Poison {
    kind: &'static str,
    reason: String,
}

impl Poison {
    /// The publish errors that a retry cannot cure; every other one is transient.
    fn from_publish(error: &PublishError) -> Option<Self> {
        let kind = match error {
            PublishError::Unroutable { .. } => "unroutable",
            PublishError::Encode(_) => "unencodable",
            _ => return None,
        };
        Some(Self {
            kind,
            reason: error.to_string(),
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

/// What one pass over a batch of rows did.
struct Relayed {
    taken: usize,
    /// The first transient failure, if any row must be tried again.
    retry: Option<PublishError>,
}

/// Publishes the outbox in the background; see the module's documentation.
pub struct Relay {
    pool: Pool,
    /// A connection of its own, apart from the consumer's.
    broker: Arc<Broker>,
    publisher: Publisher,
    settings: OutboxSettings,
    staged: Arc<Notify>,
}

impl Relay {
    /// `broker` should be a connection of its own; `staged` is notified after every commit
    /// that may have written rows.
    pub fn new(
        pool: Pool,
        broker: Arc<Broker>,
        settings: OutboxSettings,
        staged: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            publisher: Publisher::new(broker.clone()),
            broker,
            settings,
            staged,
        }
    }

    /// Relays until `stopping` completes (a batch in flight is finished first), then closes its
    /// broker connection.
    pub async fn run(self, stopping: impl Future<Output = ()>) {
        tokio::pin!(stopping);
        let first = Duration::from_millis(self.settings.poll_ms.max(1));
        let longest = Duration::from_millis(self.settings.max_poll_ms).max(first);
        let mut idle = first;
        let mut backoff = first;
        loop {
            let (wait, wakeable) = match self.relay_batch().await {
                Ok(Relayed { retry: None, taken }) => {
                    backoff = first;
                    if taken > 0 && taken as i64 >= self.settings.batch_size {
                        // There may be more right behind.
                        (Duration::ZERO, true)
                    } else {
                        idle = if taken > 0 {
                            first
                        } else {
                            (idle * 2).min(longest)
                        };
                        (idle, true)
                    }
                }
                Ok(Relayed {
                    retry: Some(error), ..
                }) => {
                    tracing::warn!(%error, ?backoff, "cannot publish from the outbox; will retry");
                    backoff = (backoff * 2).min(longest);
                    (backoff, false)
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), ?backoff, "cannot read the outbox; will retry");
                    backoff = (backoff * 2).min(longest);
                    (backoff, false)
                }
            };
            // After a failure only time wakes it: every commit would otherwise retry at once.
            let staged = async {
                if wakeable {
                    self.staged.notified().await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                biased;
                () = &mut stopping => break,
                () = staged => idle = first,
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.broker.close().await;
    }

    /// Takes the oldest unlocked rows, publishes them together, deletes the confirmed ones and
    /// sets the poison aside, in one transaction holding the rows' locks.
    async fn relay_batch(&self) -> anyhow::Result<Relayed> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let rows = transaction
            .query(
                "SELECT message_id, event_type, body FROM outbox \
                 ORDER BY created_at, message_id LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[&self.settings.batch_size.max(1)],
            )
            .await?;
        if rows.is_empty() {
            return Ok(Relayed {
                taken: 0,
                retry: None,
            });
        }
        let mut dead: Vec<(Uuid, Poison)> = Vec::new();
        let mut sendable: Vec<(Uuid, Outgoing)> = Vec::new();
        for row in &rows {
            let message_id: Uuid = row.get(0);
            match Outgoing::decode(row.get(1), row.get(2)) {
                Ok(message) => sendable.push((message_id, message)),
                Err(poison) => dead.push((message_id, poison)),
            }
        }
        let results = join_all(
            sendable
                .iter()
                .map(|(_, message)| message.publish(&self.publisher)),
        )
        .await;
        let mut confirmed: Vec<Uuid> = Vec::new();
        let mut retry = None;
        for ((message_id, _), result) in sendable.iter().zip(results) {
            match result {
                Ok(()) => confirmed.push(*message_id),
                Err(error) => match Poison::from_publish(&error) {
                    Some(poison) => dead.push((*message_id, poison)),
                    None => {
                        retry.get_or_insert(error);
                    }
                },
            }
        }
        if !confirmed.is_empty() {
            transaction
                .execute(
                    "DELETE FROM outbox WHERE message_id = ANY($1)",
                    &[&confirmed],
                )
                .await?;
        }
        if !dead.is_empty() {
            let ids: Vec<Uuid> = dead.iter().map(|(message_id, _)| *message_id).collect();
            let reasons: Vec<&str> = dead.iter().map(|(_, poison)| &*poison.reason).collect();
            transaction
                .execute(
                    "WITH reasons AS (\
                         SELECT * FROM unnest($1::uuid[], $2::text[]) AS r (message_id, reason)), \
                     moved AS (\
                         DELETE FROM outbox o USING reasons r WHERE o.message_id = r.message_id \
                         RETURNING o.message_id, o.event_type, o.body, o.created_at, r.reason) \
                     INSERT INTO outbox_dead (message_id, event_type, body, created_at, reason) \
                     SELECT * FROM moved ON CONFLICT (message_id) DO NOTHING",
                    &[&ids, &reasons],
                )
                .await?;
        }
        transaction.commit().await?;
        metrics::counter!("warren_outbox_published_total").increment(confirmed.len() as u64);
        for (message_id, poison) in &dead {
            metrics::counter!("warren_outbox_dead_lettered_total", "reason" => poison.kind)
                .increment(1);
            tracing::error!(
                %message_id,
                reason = %poison.reason,
                "an outbox row can never be published; moved to outbox_dead"
            );
        }
        Ok(Relayed {
            taken: rows.len(),
            retry,
        })
    }
}
