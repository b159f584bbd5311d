//! PostgreSQL stopped for 20 s in the middle of the load: tally-worker waits it out, loses
//! nothing and dead-letters nothing. Its own test binary, since it stops the shared server.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{Broker, Envelope, Publisher};
use warren_service_kit::postgres;
use warren_testkit::{
    Management, broker_settings, counts_to, eventually, postgres_database, vhost_with,
};

const VOTES: usize = 3_000;
const OUTAGE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_for_twenty_seconds_mid_load_leaves_the_tally_exact() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let database = postgres_database().await;
    let worker = common::worker(&vhost, &database).await;

    let publisher = Arc::new(Publisher::new(Arc::new(
        Broker::new(broker_settings("vote-service", &vhost), "outage-test").unwrap(),
    )));
    let votes: Vec<Envelope<VoteCast>> = (0..VOTES)
        .map(|i| {
            Envelope::new(
                "outage-test",
                VoteCast {
                    poll: "default".into(),
                    voter_id: Uuid::new_v4(),
                    option: if i % 3 == 0 { "a" } else { "b" }.into(),
                },
            )
        })
        .collect();
    let expected = HashMap::from([
        ("a".to_owned(), (VOTES / 3) as i64),
        ("b".to_owned(), (VOTES - VOTES / 3) as i64),
    ]);
    let published = Arc::new(AtomicUsize::new(0));
    let publishing = {
        let (publisher, published) = (publisher.clone(), published.clone());
        tokio::spawn(async move {
            // A steady stream of votes, so that the outage falls in the middle of it.
            let mut pace = tokio::time::interval(Duration::from_millis(10));
            for chunk in votes.chunks(30) {
                pace.tick().await;
                for envelope in chunk {
                    publisher.publish(envelope).await.unwrap();
                    published.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    assert!(counts_to(&published, VOTES / 4, Duration::from_secs(60)).await);

    warren_testkit::stop_postgres().await;
    let stopped_at = Instant::now();
    let management = Management::new();
    let dead = TALLY_VOTES.dead_letter_queue();
    // Throughout the outage (its length is the scenario, not a wait), nothing is dead-lettered.
    let mut sample = tokio::time::interval(Duration::from_secs(1));
    while stopped_at.elapsed() < OUTAGE {
        sample.tick().await;
        assert_eq!(
            management.queue_depth(&vhost, &dead).await,
            0,
            "dead-lettered during the outage"
        );
    }
    warren_testkit::start_postgres().await;
    publishing.await.unwrap();

    let pool = postgres::pool(&database).unwrap();
    let tally = || {
        let pool = pool.clone();
        async move {
            let Ok(client) = pool.get().await else {
                return HashMap::new();
            };
            client
                .query("SELECT option, count(*) FROM votes GROUP BY option", &[])
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    let exact = eventually(Duration::from_secs(90), || {
        let (tally, expected) = (tally(), expected.clone());
        async move { tally.await == expected }
    })
    .await;
    assert!(exact, "tally {:?}, expected {expected:?}", tally().await);
    assert_eq!(management.queue_depth(&vhost, &dead).await, 0);
    worker.stop().await;
}
