//! tally-worker against the real cluster and PostgreSQL: every vote counted once, the latest
//! per voter winning, with duplicates, reordering and competing workers.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use futures::StreamExt;
use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{Broker, Envelope, Publisher};
use warren_service_kit::postgres;
use warren_service_kit::postgres::PostgresSettings;
use warren_testkit::{
    Management, broker_settings, eventually, postgres_database, sql_value, vhost_with,
};

struct Setup {
    vhost: String,
    database: PostgresSettings,
    publisher: Arc<Publisher>,
}

async fn setup() -> Setup {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let database = postgres_database().await;
    let broker = Broker::new(broker_settings("vote-service", &vhost), "tally-test").unwrap();
    Setup {
        publisher: Arc::new(Publisher::new(Arc::new(broker))),
        vhost,
        database,
    }
}

async fn worker(setup: &Setup) -> warren_testkit::Running {
    common::worker(&setup.vhost, &setup.database).await
}

fn vote(voter: Uuid, option: &str, at: DateTime<Utc>) -> Envelope<VoteCast> {
    let mut envelope = Envelope::new(
        "tally-test",
        VoteCast {
            poll: "default".into(),
            voter_id: voter,
            option: option.into(),
        },
    );
    envelope.occurred_at = at;
    envelope
}

async fn tally(pool: &Pool) -> HashMap<String, i64> {
    let client = pool.get().await.unwrap();
    let rows = client
        .query(
            "SELECT option, count(*) FROM votes WHERE poll = 'default' GROUP BY option",
            &[],
        )
        .await
        .unwrap_or_default();
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

async fn wait_for_tally(setup: &Setup, expected: &HashMap<String, i64>, within: Duration) {
    let pool = postgres::pool(&setup.database).unwrap();
    let reached = eventually(within, || {
        let pool = pool.clone();
        async move { tally(&pool).await == *expected }
    })
    .await;
    assert!(
        reached,
        "tally {:?}, expected {expected:?}",
        tally(&pool).await
    );
}

fn seconds(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap()
}

#[tokio::test]
async fn duplicated_and_reordered_deliveries_leave_the_latest_vote() {
    let setup = setup().await;
    let worker = worker(&setup).await;
    let voter = Uuid::new_v4();
    let first = vote(voter, "a", seconds(10));
    let latest = vote(voter, "b", seconds(20));
    let stale = vote(voter, "c", seconds(5));
    for envelope in [&first, &latest, &first, &latest, &stale] {
        setup.publisher.publish(envelope).await.unwrap();
    }
    let other = Uuid::new_v4();
    setup
        .publisher
        .publish(&vote(other, "a", seconds(1)))
        .await
        .unwrap();

    let expected = HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 1)]);
    wait_for_tally(&setup, &expected, Duration::from_secs(30)).await;
    let management = Management::new();
    assert!(
        management
            .reaches_depth(&setup.vhost, TALLY_VOTES.name, 0, Duration::from_secs(10))
            .await
    );
    worker.stop().await;
    // A late, older vote changed nothing, and the duplicates were claimed once.
    let pool = postgres::pool(&setup.database).unwrap();
    assert_eq!(tally(&pool).await, expected);
    let client = pool.get().await.unwrap();
    let claimed: i64 = sql_value(&client, "SELECT count(*) FROM applied_messages", &[]).await;
    assert_eq!(claimed, 4, "four distinct events were published");
    // Each distinct vote was applied once, stale or not; the duplicates were not.
    let applied: i32 = sql_value(
        &client,
        "SELECT applied_votes FROM votes WHERE voter_id = $1",
        &[&voter],
    )
    .await;
    assert_eq!(applied, 3, "the voter cast three distinct votes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_over_10000_votes_from_3000_voters_give_the_exact_tally() {
    let setup = setup().await;
    let voters: Vec<Uuid> = (0..3_000).map(|_| Uuid::new_v4()).collect();
    let options = ["a", "b", "c"];
    // Every voter votes at least once; later votes (by their own time) win.
    let votes: Vec<Envelope<VoteCast>> = (0..10_000)
        .map(|i| {
            let voter = voters[i % voters.len()];
            let option = options[(i * 7 + i / 3) % options.len()];
            vote(voter, option, seconds(((i * 7919) % 10_000) as i64))
        })
        .collect();
    let mut latest: HashMap<Uuid, &Envelope<VoteCast>> = HashMap::new();
    for envelope in &votes {
        let current = latest.entry(envelope.payload.voter_id).or_insert(envelope);
        if (current.occurred_at, current.message_id) < (envelope.occurred_at, envelope.message_id) {
            *current = envelope;
        }
    }
    let mut expected: HashMap<String, i64> = HashMap::new();
    for envelope in latest.values() {
        *expected.entry(envelope.payload.option.clone()).or_default() += 1;
    }

    let first = worker(&setup).await;
    let second = worker(&setup).await;
    futures::stream::iter(&votes)
        .for_each_concurrent(64, |envelope| {
            let publisher = setup.publisher.clone();
            async move { publisher.publish(envelope).await.unwrap() }
        })
        .await;
    wait_for_tally(&setup, &expected, Duration::from_secs(120)).await;
    first.stop().await;
    second.stop().await;
}
