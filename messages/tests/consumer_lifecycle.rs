//! The consumer runner at the edges of a subscription: stopping in the middle of a retry, and
//! a subscription whose confirmation comes too late.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{Broker, ConsumerSettings, Envelope, Handler, Outcome, Publisher};
use warren_testkit::{
    Management, Recorder, amqp_nodes, broker_settings, eventually, run_vote_consumer, vhost_with,
};

use support::AmqpProxy;

async fn publish_votes(vhost: &str, count: usize) -> Vec<Uuid> {
    let publisher = Publisher::new(Arc::new(
        Broker::new(broker_settings("vote-service", vhost), "test-publisher").unwrap(),
    ));
    let mut ids = Vec::new();
    for _ in 0..count {
        let envelope = Envelope::new(
            "consumer-lifecycle-test",
            VoteCast {
                poll: "default".into(),
                voter_id: Uuid::new_v4(),
                option: "a".into(),
            },
        );
        publisher.publish(&envelope).await.unwrap();
        ids.push(envelope.message_id);
    }
    ids
}

/// A handler whose database is always down.
#[derive(Clone, Default)]
struct AlwaysRetry {
    calls: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Handler<Envelope<VoteCast>> for AlwaysRetry {
    async fn handle(&self, batch: &[Envelope<VoteCast>]) -> Vec<Outcome> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        vec![Outcome::RetryLater("database is down".into()); batch.len()]
    }
}

#[tokio::test]
async fn a_consumer_stopped_while_it_waits_to_retry_a_batch_stops_cleanly_and_loses_nothing() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    const COUNT: usize = 5;
    publish_votes(&vhost, COUNT).await;
    let handler = AlwaysRetry::default();
    let broker = Broker::new(broker_settings("tally-worker", &vhost), "test-consumer").unwrap();
    let (stop, task) = run_vote_consumer(
        Arc::new(broker),
        handler.clone(),
        ConsumerSettings::default(),
    );
    // Two refusals: the runner is now waiting out its backoff before the next attempt.
    assert!(
        eventually(Duration::from_secs(20), || async {
            handler.calls.load(Ordering::SeqCst) >= 2
        })
        .await,
        "the handler was never retried"
    );
    stop.send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(20), task).await;
    let joined = stopped.expect("the consumer did not stop");
    assert!(joined.is_ok(), "the consumer failed to stop: {joined:?}");

    // Held back to the queue through its delayed-retry queue, none dead-lettered.
    let management = Management::new();
    let retry = TALLY_VOTES.retry_queue();
    let dead = TALLY_VOTES.dead_letter_queue();
    let (management, vhost) = (&management, &vhost);
    assert!(
        eventually(Duration::from_secs(20), || {
            let retry = retry.clone();
            async move {
                management.queue_depth(vhost, TALLY_VOTES.name).await
                    + management.queue_depth(vhost, &retry).await
                    == COUNT as u64
            }
        })
        .await,
        "messages went missing when the consumer stopped"
    );
    assert_eq!(management.queue_depth(vhost, &dead).await, 0);
}

#[tokio::test]
async fn a_subscription_confirmed_too_late_does_not_keep_the_messages_from_the_next_one() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    const COUNT: usize = 10;
    let sent = publish_votes(&vhost, COUNT).await;
    // The broker registers the consumer and starts delivering, but the client never hears
    // of it: its subscribe times out with a live consumer on the channel.
    let proxy = AmqpProxy::start(&amqp_nodes()[0]).await;
    proxy.hold_next_subscription();
    let mut settings = broker_settings("tally-worker", &vhost);
    settings.nodes = vec![proxy.node()];
    settings.heartbeat_secs = 60;
    let recorder = Recorder::default();
    let broker = Broker::new(settings, "test-late-subscription").unwrap();
    let (stop, task) = run_vote_consumer(
        Arc::new(broker),
        recorder.clone(),
        ConsumerSettings::default(),
    );
    let recorder = &recorder;
    assert!(
        eventually(Duration::from_secs(40), || async {
            sent.iter().all(|id| recorder.contains(*id))
        })
        .await,
        "{} of {COUNT} messages were handled: the rest are held by a consumer nobody reads",
        recorder.snapshot().len()
    );
    assert!(
        proxy.held_for_channel() > 0,
        "the subscription's confirmation was never held back: the test tested nothing"
    );
    let management = Management::new();
    assert!(
        management
            .reaches_depth(&vhost, TALLY_VOTES.name, 0, Duration::from_secs(10))
            .await,
        "the messages were not acknowledged"
    );
    let queue = management
        .get(&format!("queues/{vhost}/{}", TALLY_VOTES.name))
        .await;
    assert_eq!(queue["consumers"], 1, "{queue}");
    stop.send(()).unwrap();
    task.await.unwrap();
}
