//! A voter's votes are ordered by the sequence they carry before the time of the instance that
//! took each: a later vote stamped by a clock that runs behind still wins, an earlier one
//! stamped by a clock ahead never does, and a vote without a sequence counts its time in
//! milliseconds.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;
use warren_messages::events::votes::{OrderedVoteCast, VoteCast};
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{Broker, Envelope, Event, Publisher};
use warren_service_kit::postgres;
use warren_testkit::{broker_settings, eventually, postgres_database, vhost_with};

fn vote(voter: Uuid, option: &str) -> VoteCast {
    VoteCast {
        poll: "default".into(),
        voter_id: voter,
        option: option.into(),
    }
}

fn ordered(voter: Uuid, option: &str, sequence: DateTime<Utc>) -> OrderedVoteCast {
    OrderedVoteCast {
        vote: vote(voter, option),
        sequence: Some(u64::try_from(sequence.timestamp_millis()).unwrap()),
    }
}

/// Publishes `payload` stamped `at`, waits until it is applied, and returns the stored option.
async fn apply<E: Event>(
    publisher: &Publisher,
    pool: &Pool,
    voter: Uuid,
    payload: E,
    at: DateTime<Utc>,
) -> String {
    let mut envelope = Envelope::new("ordering-test", payload);
    envelope.occurred_at = at;
    publisher.publish(&envelope).await.unwrap();
    let applied = eventually(Duration::from_secs(15), || async {
        let client = pool.get().await.unwrap();
        client
            .query_opt(
                "SELECT 1 FROM applied_messages WHERE message_id = $1",
                &[&envelope.message_id],
            )
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert!(applied, "vote {} was not applied", envelope.message_id);
    let client = pool.get().await.unwrap();
    client
        .query_one("SELECT option FROM votes WHERE voter_id = $1", &[&voter])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_voters_sequence_decides_before_the_instances_clocks_across_batches() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let database = postgres_database().await;
    let worker = common::worker(&vhost, &database).await;
    let broker = Broker::new(broker_settings("vote-service", &vhost), "ordering-test").unwrap();
    let publisher = Publisher::new(Arc::new(broker));
    let pool = postgres::pool(&database).unwrap();
    let voter = Uuid::new_v4();
    let now = Utc::now();
    let (ahead, behind) = (now + TimeDelta::seconds(10), now - TimeDelta::seconds(10));

    // The voter's first vote, taken by an instance ten seconds ahead...
    let first = ordered(voter, "a", ahead);
    assert_eq!(apply(&publisher, &pool, voter, first, ahead).await, "a");
    // ...then their second, by one ten seconds behind: its sequence is above the first's.
    let second = ordered(voter, "b", ahead + TimeDelta::milliseconds(1));
    assert_eq!(apply(&publisher, &pool, voter, second, behind).await, "b");
    // The first again (a redelivery): it does not move the vote back.
    let first = ordered(voter, "a", ahead);
    assert_eq!(apply(&publisher, &pool, voter, first, ahead).await, "b");
    // A vote without a sequence (an older producer) stands at its time in milliseconds: one
    // before the second vote's sequence loses, one after it wins.
    let old = vote(voter, "a");
    assert_eq!(apply(&publisher, &pool, voter, old, now).await, "b");
    let later = now + TimeDelta::seconds(20);
    assert_eq!(
        apply(&publisher, &pool, voter, vote(voter, "c"), later).await,
        "c"
    );
    worker.stop().await;
}
