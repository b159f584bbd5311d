//! Projects `vote.cast` events into the `votes` table.
//!
//! A batch is one transaction: its message ids are claimed in `applied_messages`, the newly
//! claimed votes are reduced to the latest per voter, and upserted so that a vote replaces the
//! stored one only if it is newer by `(occurred_at, message_id)`; every applied vote adds one
//! to the voter's `applied_votes`, so a vote applied twice is visible. Rows are written in key
//! order so that concurrent workers lock them in the same order and cannot deadlock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;
use warren_messages::consumer::apply_valid;
use warren_messages::events::votes::VoteCast;
use warren_messages::sabotage::{self, Sabotage};
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

/// A voter's newest vote in a batch, and how many of the voter's votes the batch applies.
struct Latest<'a> {
    vote: &'a Envelope<VoteCast>,
    applied: i32,
}

/// The newest vote per (poll, voter) among `votes`, in key order.
fn latest_per_voter<'a>(
    votes: impl Iterator<Item = &'a Envelope<VoteCast>>,
) -> BTreeMap<(&'a str, Uuid), Latest<'a>> {
    let mut latest: BTreeMap<(&str, Uuid), Latest<'a>> = BTreeMap::new();
    for vote in votes {
        let key = (vote.payload.poll.as_str(), vote.payload.voter_id);
        let entry = latest.entry(key).or_insert(Latest { vote, applied: 0 });
        entry.applied += 1;
        if (entry.vote.occurred_at, entry.vote.message_id) < (vote.occurred_at, vote.message_id) {
            entry.vote = vote;
        }
    }
    latest
}

/// The self-test's `drop-vote`: the first vote this process is handed is claimed but never
/// stored. Never in a build without the `sabotage` feature.
fn sabotaged(claimed: &mut std::collections::HashSet<Uuid>) {
    static DROPPED: AtomicBool = AtomicBool::new(false);
    if sabotage::active(Sabotage::DropVote)
        && let Some(&victim) = claimed.iter().next()
        && !DROPPED.swap(true, Ordering::SeqCst)
    {
        claimed.remove(&victim);
    }
}

impl VoteProjection {
    async fn apply(&self, votes: &[&Envelope<VoteCast>]) -> anyhow::Result<()> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let ids: Vec<Uuid> = votes.iter().map(|vote| vote.message_id).collect();
        let mut claimed = exactly_once::claim(&transaction, CONSUMER, &ids).await?;
        sabotaged(&mut claimed);
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
            let mut applied = Vec::with_capacity(latest.len());
            for &Latest {
                vote,
                applied: count,
            } in latest.values()
            {
                applied.push(count);
                polls.push(vote.payload.poll.as_str());
                voters.push(vote.payload.voter_id);
                options.push(vote.payload.option.as_str());
                times.push(vote.occurred_at);
                message_ids.push(vote.message_id);
            }
            transaction
                .execute(
                    "INSERT INTO votes (poll, voter_id, option, occurred_at, message_id, applied_votes) \
                     SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[], $6::int[]) \
                     ON CONFLICT (poll, voter_id) DO UPDATE SET \
                     option = CASE WHEN (votes.occurred_at, votes.message_id) < (EXCLUDED.occurred_at, EXCLUDED.message_id) \
                                   THEN EXCLUDED.option ELSE votes.option END, \
                     message_id = CASE WHEN (votes.occurred_at, votes.message_id) < (EXCLUDED.occurred_at, EXCLUDED.message_id) \
                                   THEN EXCLUDED.message_id ELSE votes.message_id END, \
                     occurred_at = GREATEST(votes.occurred_at, EXCLUDED.occurred_at), \
                     applied_votes = votes.applied_votes + EXCLUDED.applied_votes",
                    &[&polls, &voters, &options, &times, &message_ids, &applied],
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
        let latest = latest.values().next().unwrap();
        assert_eq!(latest.vote.payload.option, "b");
        assert_eq!(latest.applied, 3);
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
