//! Projects `vote.cast` events into the `votes` table.
//!
//! A batch is one transaction: its message ids are claimed in `applied_messages`, the newly
//! claimed votes are reduced to the latest per voter, and upserted so that a vote replaces the
//! stored one only if it is later by `(sequence, occurred_at, message_id)`: first the order the
//! voter carries (`OrderedVoteCast::sequence`, or for a vote without one its `occurred_at` in
//! milliseconds), so that the clocks of the instances that took the votes do not decide it,
//! then the event's time and id to break ties; every applied vote adds one
//! to the voter's `applied_votes`, so a vote applied twice is visible. Rows are written in key
//! order so that concurrent workers lock them in the same order and cannot deadlock.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;
use warren_messages::consumer::apply_valid;
use warren_messages::events::votes::OrderedVoteCast;
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

fn validate(vote: &OrderedVoteCast) -> Result<(), String> {
    let OrderedVoteCast { vote, sequence } = vote;
    for (field, value) in [("poll", &vote.poll), ("option", &vote.option)] {
        if value.is_empty() || value.len() > MAX_KEY_LENGTH || value.chars().any(char::is_control) {
            return Err(format!("invalid {field} {value:?}"));
        }
    }
    if sequence.is_some_and(|sequence| i64::try_from(sequence).is_err()) {
        return Err(format!("sequence {sequence:?} is out of range"));
    }
    Ok(())
}

/// Where a vote stands in its voter's order: `(sequence, occurred_at, message_id)`, a vote
/// without a sequence taking its `occurred_at` in milliseconds (validated to fit).
fn order(vote: &Envelope<OrderedVoteCast>) -> (i64, DateTime<Utc>, Uuid) {
    let sequence = vote
        .payload
        .sequence
        .and_then(|sequence| i64::try_from(sequence).ok())
        .unwrap_or_else(|| vote.occurred_at.timestamp_millis());
    (sequence, vote.occurred_at, vote.message_id)
}

/// A voter's newest vote in a batch, and how many of the voter's votes the batch applies.
struct Latest<'a> {
    vote: &'a Envelope<OrderedVoteCast>,
    applied: i32,
}

/// The newest vote per (poll, voter) among `votes`, in key order. A message delivered twice in
/// one batch (a redelivery next to its original) counts once.
fn latest_per_voter<'a>(
    votes: impl Iterator<Item = &'a Envelope<OrderedVoteCast>>,
) -> BTreeMap<(&'a str, Uuid), Latest<'a>> {
    let mut latest: BTreeMap<(&str, Uuid), Latest<'a>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for vote in votes.filter(|vote| seen.insert(vote.message_id)) {
        let key = (vote.payload.vote.poll.as_str(), vote.payload.vote.voter_id);
        let entry = latest.entry(key).or_insert(Latest { vote, applied: 0 });
        entry.applied += 1;
        if order(entry.vote) < order(vote) {
            entry.vote = vote;
        }
    }
    latest
}

/// Inserts each voter's latest vote of the batch, or updates the stored one: the option and
/// its place in the order only if the incoming vote is later (every SET reads the stored row as
/// it was, so one test decides all four), the count of applied votes always. A stored sequence
/// left NULL by an older tally-worker counts as its time in milliseconds.
static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let later = "(COALESCE(votes.sequence, floor(extract(epoch FROM votes.occurred_at) * 1000)::bigint), \
                  votes.occurred_at, votes.message_id) \
                 < (EXCLUDED.sequence, EXCLUDED.occurred_at, EXCLUDED.message_id)";
    let take = |column: &str| {
        format!("{column} = CASE WHEN {later} THEN EXCLUDED.{column} ELSE votes.{column} END")
    };
    format!(
        "INSERT INTO votes (poll, voter_id, option, sequence, occurred_at, message_id, applied_votes) \
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[], $5::timestamptz[], \
                              $6::uuid[], $7::int[]) \
         ON CONFLICT (poll, voter_id) DO UPDATE SET {}, {}, {}, {}, \
         applied_votes = votes.applied_votes + EXCLUDED.applied_votes",
        take("option"),
        take("sequence"),
        take("occurred_at"),
        take("message_id"),
    )
});

/// The self-test's `drop-vote`: the first vote this process is handed is claimed but never
/// stored. Never in a build without the `sabotage` feature.
fn sabotaged(claimed: &mut HashSet<Uuid>) {
    static DROPPED: AtomicBool = AtomicBool::new(false);
    if sabotage::active(Sabotage::DropVote)
        && let Some(&victim) = claimed.iter().next()
        && !DROPPED.swap(true, Ordering::SeqCst)
    {
        claimed.remove(&victim);
    }
}

impl VoteProjection {
    async fn apply(&self, votes: &[&Envelope<OrderedVoteCast>]) -> anyhow::Result<()> {
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
            let mut sequences = Vec::with_capacity(latest.len());
            let mut times: Vec<DateTime<Utc>> = Vec::with_capacity(latest.len());
            let mut message_ids = Vec::with_capacity(latest.len());
            let mut applied = Vec::with_capacity(latest.len());
            for &Latest {
                vote,
                applied: count,
            } in latest.values()
            {
                applied.push(count);
                let (sequence, occurred_at, message_id) = order(vote);
                polls.push(vote.payload.vote.poll.as_str());
                voters.push(vote.payload.vote.voter_id);
                options.push(vote.payload.vote.option.as_str());
                sequences.push(sequence);
                times.push(occurred_at);
                message_ids.push(message_id);
            }
            transaction
                .execute(
                    UPSERT.as_str(),
                    &[
                        &polls,
                        &voters,
                        &options,
                        &sequences,
                        &times,
                        &message_ids,
                        &applied,
                    ],
                )
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler<Envelope<OrderedVoteCast>> for VoteProjection {
    #[tracing::instrument(skip_all, fields(batch = batch.len()))]
    async fn handle(&self, batch: &[Envelope<OrderedVoteCast>]) -> Vec<Outcome> {
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
    use warren_messages::events::votes::VoteCast;

    fn vote(voter: Uuid, option: &str, seconds: i64) -> Envelope<OrderedVoteCast> {
        ordered(voter, option, seconds, None)
    }

    fn ordered(
        voter: Uuid,
        option: &str,
        seconds: i64,
        sequence: Option<u64>,
    ) -> Envelope<OrderedVoteCast> {
        let mut envelope = Envelope::new(
            "test",
            OrderedVoteCast {
                vote: VoteCast {
                    poll: "default".into(),
                    voter_id: voter,
                    option: option.into(),
                },
                sequence,
            },
        );
        envelope.occurred_at = DateTime::from_timestamp(seconds, 0).unwrap();
        envelope
    }

    #[test]
    fn the_voters_sequence_orders_their_votes_before_the_clocks_of_the_instances() {
        let voter = Uuid::new_v4();
        // The later vote (higher sequence) was taken by an instance whose clock is behind.
        let votes = [
            ordered(voter, "b", 1_000, Some(2_000_001)),
            ordered(voter, "a", 2_000, Some(2_000_000)),
        ];
        let latest = latest_per_voter(votes.iter());
        assert_eq!(
            latest.values().next().unwrap().vote.payload.vote.option,
            "b"
        );
        // A vote without a sequence stands at its time in milliseconds, on the same scale.
        let votes = [
            ordered(voter, "a", 1_000, Some(1_000_001)),
            ordered(voter, "b", 1_001, None),
            ordered(voter, "c", 999, None),
        ];
        let latest = latest_per_voter(votes.iter());
        assert_eq!(
            latest.values().next().unwrap().vote.payload.vote.option,
            "b"
        );
        assert_eq!(order(&votes[1]).0, 1_001_000);
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
        assert_eq!(latest.vote.payload.vote.option, "b");
        assert_eq!(latest.applied, 3);
    }

    #[test]
    fn a_message_delivered_twice_in_one_batch_is_applied_once() {
        let voter = Uuid::new_v4();
        let first = vote(voter, "a", 10);
        let votes = [first.clone(), vote(voter, "b", 20), first];
        let latest = latest_per_voter(votes.iter());
        let latest = latest.values().next().unwrap();
        assert_eq!(latest.vote.payload.vote.option, "b");
        assert_eq!(latest.applied, 2);
    }

    #[test]
    fn empty_control_character_and_overlong_keys_are_invalid() {
        let mut bad = vote(Uuid::new_v4(), "", 1).payload;
        assert!(validate(&bad).is_err());
        bad.vote.option = "a\u{0}".into();
        assert!(validate(&bad).is_err());
        bad.vote.option = "x".repeat(65);
        assert!(validate(&bad).is_err());
        bad.vote.option = "a".into();
        assert!(validate(&bad).is_ok());
        bad.sequence = Some(u64::MAX);
        assert!(validate(&bad).is_err());
        bad.sequence = Some(i64::MAX as u64);
        assert!(validate(&bad).is_ok());
    }
}
