//! Exactly-once effect for PostgreSQL projections.
//!
//! A consumer claims the `message_id`s of a batch in the same transaction as the batch's
//! effects. Only newly claimed messages are applied; a redelivered message finds its id already
//! claimed and has no second effect. If the transaction rolls back, the claims roll back too.

use std::collections::HashSet;

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
