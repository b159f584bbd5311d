//! A consumer that loses its connection after committing and before acknowledging gets the
//! message again, and the exactly-once claim keeps it from taking effect twice.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{
    Broker, Consumer, ConsumerSettings, Envelope, Handler, Outcome, Publisher, exactly_once,
};
use warren_service_kit::postgres;
use warren_testkit::{
    Management, broker_settings, eventually, postgres_database, sql_value, vhost_with,
};

/// Counts votes per option in PostgreSQL, claiming each message id in the same transaction.
struct CountingProjection {
    pool: Pool,
    broker: Arc<Broker>,
    crash_after_commit: AtomicBool,
    invocations: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Handler<Envelope<VoteCast>> for CountingProjection {
    async fn handle(&self, batch: &[Envelope<VoteCast>]) -> Vec<Outcome> {
        self.invocations.fetch_add(1, Ordering::SeqCst);
        let mut client = self.pool.get().await.unwrap();
        let transaction = client.transaction().await.unwrap();
        let ids: Vec<Uuid> = batch.iter().map(|envelope| envelope.message_id).collect();
        let claimed = exactly_once::claim(&transaction, "counting-test", &ids)
            .await
            .unwrap();
        for envelope in batch
            .iter()
            .filter(|envelope| claimed.contains(&envelope.message_id))
        {
            transaction
                .execute(
                    "INSERT INTO counts (option, n) VALUES ($1, 1) \
                     ON CONFLICT (option) DO UPDATE SET n = counts.n + 1",
                    &[&envelope.payload.option],
                )
                .await
                .unwrap();
        }
        transaction.commit().await.unwrap();
        if self.crash_after_commit.swap(false, Ordering::SeqCst) {
            // The process "dies" here: committed, not yet acknowledged.
            self.broker.close().await;
        }
        vec![Outcome::Done; batch.len()]
    }
}

#[tokio::test]
async fn a_message_redelivered_after_commit_has_no_second_effect() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let database = postgres_database().await;
    let pool = postgres::pool(&database).unwrap();
    postgres::migrate(&pool, refinery::Runner::new(&exactly_once::migrations()))
        .await
        .unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE counts (option TEXT PRIMARY KEY, n INT NOT NULL)")
        .await
        .unwrap();

    let envelope = Envelope::new(
        "exactly-once-test",
        VoteCast {
            poll: "default".into(),
            voter_id: Uuid::new_v4(),
            option: "a".into(),
        },
    );
    let publisher = Publisher::new(Arc::new(
        Broker::new(broker_settings("vote-service", &vhost), "p").unwrap(),
    ));
    publisher.publish(&envelope).await.unwrap();

    let broker = Arc::new(Broker::new(broker_settings("tally-worker", &vhost), "c").unwrap());
    let invocations = Arc::new(AtomicUsize::new(0));
    let projection = CountingProjection {
        pool: pool.clone(),
        broker: broker.clone(),
        crash_after_commit: AtomicBool::new(true),
        invocations: invocations.clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(broker, TALLY_VOTES, projection, ConsumerSettings::default());
    let task = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));

    let management = Management::new();
    assert!(
        eventually(Duration::from_secs(30), || {
            let (management, vhost, invocations) =
                (management.clone(), vhost.clone(), invocations.clone());
            async move {
                invocations.load(Ordering::SeqCst) >= 2
                    && management.queue_depth(&vhost, TALLY_VOTES.name).await == 0
            }
        })
        .await,
        "the message was not redelivered and acknowledged"
    );
    stop.send(()).unwrap();
    task.await.unwrap();
    let client = pool.get().await.unwrap();
    let n: i32 = sql_value(&client, "SELECT n FROM counts WHERE option = 'a'", &[]).await;
    assert_eq!(n, 1, "the redelivered vote was counted twice");
}

async fn claims_database() -> Pool {
    let database = postgres_database().await;
    let pool = postgres::pool(&database).unwrap();
    postgres::migrate(&pool, refinery::Runner::new(&exactly_once::migrations()))
        .await
        .unwrap();
    pool
}

async fn claims_left(pool: &Pool) -> i64 {
    let client = pool.get().await.unwrap();
    sql_value(&client, "SELECT count(*) FROM applied_messages", &[]).await
}

#[tokio::test]
async fn claims_older_than_the_horizon_are_pruned_in_bounded_batches() {
    let pool = claims_database().await;
    let client = pool.get().await.unwrap();
    let old: Vec<Uuid> = (0..25).map(|_| Uuid::now_v7()).collect();
    let fresh: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    for (ids, days) in [(&old, 8), (&fresh, 6)] {
        client
            .execute(
                "INSERT INTO applied_messages (consumer, message_id, applied_at) \
                 SELECT 'pruning-test', id, now() - make_interval(days => $2) \
                 FROM unnest($1::uuid[]) AS id",
                &[ids, &days],
            )
            .await
            .unwrap();
    }

    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(
        exactly_once::prune_batch(&client, week, 10).await.unwrap(),
        10
    );
    assert_eq!(claims_left(&pool).await, 20);

    let retention = exactly_once::Retention {
        horizon_hours: 7 * 24,
        prune_batch: 10,
        prune_interval_secs: 600,
    };
    assert_eq!(exactly_once::prune(&pool, &retention).await.unwrap(), 15);
    assert_eq!(
        claims_left(&pool).await,
        5,
        "a claim within the horizon was pruned"
    );
    assert_eq!(exactly_once::prune(&pool, &retention).await.unwrap(), 0);

    // Past the horizon a message is new to the claim again: what may arrive that late must be
    // idempotent by the projection's own state.
    let mut client = pool.get().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    let claimed = exactly_once::claim(&transaction, "pruning-test", &[old[0], fresh[0]])
        .await
        .unwrap();
    assert_eq!(claimed, [old[0]].into_iter().collect());
}
