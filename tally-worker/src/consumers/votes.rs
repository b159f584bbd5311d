//! Projects `vote.cast` events into the `votes` table.
//!
//! A batch is one transaction: its message ids are claimed in `applied_messages`, the newly
//! claimed votes are reduced to the latest per voter, and upserted so that a vote replaces the
//! stored one only if it is newer by `(occurred_at, message_id)`. Rows are written in key order
//! so that concurrent workers lock them in the same order and cannot deadlock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;
use warren_messages::consumer::apply_valid;
use warren_messages::events::votes::VoteCast;
use warren_messages::{Envelope, Handler, Outcome, exactly_once};

/// The name under which this projection claims message ids.
const CONSUMER: &str = "tally-worker";
/// Longest poll id or option key accepted; vote-service sends far shorter ones.
const MAX_KEY_LENGTH: usize = 64;

pub struct VoteProjection {
    pool: Pool,
}

impl VoteProjection {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

fn validate(vote: &VoteCast) -> Result<(), String> {
    for (field, value) in [("poll", &vote.poll), ("option", &vote.option)] {
        if value.is_empty() || value.len() > MAX_KEY_LENGTH || value.chars().any(char::is_control) {
            return Err(format!("invalid {field} {value:?}"));
        }
    }
    Ok(())
}

/// The newest vote per (poll, voter) among `votes`, in key order.
fn latest_per_voter<'a>(
    votes: impl Iterator<Item = &'a Envelope<VoteCast>>,
) -> BTreeMap<(&'a str, Uuid), &'a Envelope<VoteCast>> {
    let mut latest: BTreeMap<(&str, Uuid), &Envelope<VoteCast>> = BTreeMap::new();
    for vote in votes {
        let key = (vote.payload.poll.as_str(), vote.payload.voter_id);
        let newer = latest.get(&key).is_none_or(|current| {
            (current.occurred_at, current.message_id) < (vote.occurred_at, vote.message_id)
        });
        if newer {
            latest.insert(key, vote);
        }
    }
    latest
}

impl VoteProjection {
    async fn apply(&self, votes: &[&Envelope<VoteCast>]) -> anyhow::Result<()> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let ids: Vec<Uuid> = votes.iter().map(|vote| vote.message_id).collect();
        let claimed = exactly_once::claim(&transaction, CONSUMER, &ids).await?;
        let latest = latest_per_voter(
            votes
                .iter()
                .copied()
                .filter(|vote| claimed.contains(&vote.message_id)),
        );
        if !latest.is_empty() {
            let mut polls = Vec::with_capacity(latest.len());
            let mut voters = Vec::with_capacity(latest.len());
            let mut options = Vec::with_capacity(latest.len());
            let mut times: Vec<DateTime<Utc>> = Vec::with_capacity(latest.len());
            let mut message_ids = Vec::with_capacity(latest.len());
            for vote in latest.values() {
                polls.push(vote.payload.poll.as_str());
                voters.push(vote.payload.voter_id);
                options.push(vote.payload.option.as_str());
                times.push(vote.occurred_at);
                message_ids.push(vote.message_id);
            }
            transaction
                .execute(
                    "INSERT INTO votes (poll, voter_id, option, occurred_at, message_id) \
                     SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[]) \
                     ON CONFLICT (poll, voter_id) DO UPDATE \
                     SET option = EXCLUDED.option, occurred_at = EXCLUDED.occurred_at, message_id = EXCLUDED.message_id \
                     WHERE (votes.occurred_at, votes.message_id) < (EXCLUDED.occurred_at, EXCLUDED.message_id)",
                    &[&polls, &voters, &options, &times, &message_ids],
                )
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler<Envelope<VoteCast>> for VoteProjection {
    #[tracing::instrument(skip_all, fields(batch = batch.len()))]
    async fn handle(&self, batch: &[Envelope<VoteCast>]) -> Vec<Outcome> {
        apply_valid(
            batch,
            |vote| validate(&vote.payload),
            |valid| async move { self.apply(&valid).await },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(voter: Uuid, option: &str, seconds: i64) -> Envelope<VoteCast> {
        let mut envelope = Envelope::new(
            "test",
            VoteCast {
                poll: "default".into(),
                voter_id: voter,
                option: option.into(),
            },
        );
        envelope.occurred_at = DateTime::from_timestamp(seconds, 0).unwrap();
        envelope
    }

    #[test]
    fn the_newest_vote_of_a_voter_wins_within_a_batch_whatever_the_order() {
        let voter = Uuid::new_v4();
        let votes = [
            vote(voter, "b", 20),
            vote(voter, "a", 10),
            vote(voter, "c", 15),
        ];
        let latest = latest_per_voter(votes.iter());
        assert_eq!(latest.len(), 1);
        assert_eq!(latest.values().next().unwrap().payload.option, "b");
    }

    #[test]
    fn empty_control_character_and_overlong_keys_are_invalid() {
        let mut bad = vote(Uuid::new_v4(), "", 1).payload;
        assert!(validate(&bad).is_err());
        bad.option = "a\u{0}".into();
        assert!(validate(&bad).is_err());
        bad.option = "x".repeat(65);
        assert!(validate(&bad).is_err());
        bad.option = "a".into();
        assert!(validate(&bad).is_ok());
    }
}
