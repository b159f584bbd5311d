//! The votes read model: only tally-worker writes it (its projection of `vote.cast`), and
//! vote-service reads the tally from it.
//!
//! `votes` holds one counted vote per (poll, voter), the latest in the voter's order; the
//! schema is this crate's `migrations/`, after the shared exactly-once table. Writes stay in
//! tally-worker's projection; this crate holds the schema and what readers ask of it, and
//! depends on no service.

use deadpool_postgres::Pool;

refinery::embed_migrations!("migrations");

/// The shared exactly-once table, then the votes tables.
pub fn migrations() -> refinery::Runner {
    warren_service_kit::postgres::after_claims(&migrations::runner())
}

/// How many counted votes one option of a poll has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionCount {
    pub option: String,
    pub votes: i64,
}

/// The counted votes of `poll` per option; an option nobody chose is absent.
pub async fn counts(pool: &Pool, poll: &str) -> anyhow::Result<Vec<OptionCount>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT option, count(*) FROM votes WHERE poll = $1 GROUP BY option",
            &[&poll],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| OptionCount {
            option: row.get(0),
            votes: row.get(1),
        })
        .collect())
}
