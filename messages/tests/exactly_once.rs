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
use warren_testkit::{Management, broker_settings, eventually, postgres_database, vhost_with};

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
    let n: i32 = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT n FROM counts WHERE option = 'a'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the redelivered vote was counted twice");
}
