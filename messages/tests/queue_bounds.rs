//! Queue bounds on the real cluster: a consumer queue at its bound refuses the next publish
//! (a nack, so the publisher reports `Nacked`), keeps every message it confirmed, and takes
//! publishes again once its consumer has caught up.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::{QueueBounds, TALLY_VOTES};
use warren_messages::{Broker, ConsumerSettings, Envelope, PublishError, Publisher};
use warren_testkit::{Recorder, broker_settings, eventually, run_vote_consumer, vhost_bounded};

fn vote() -> Envelope<VoteCast> {
    Envelope::new(
        "queue-bounds-test",
        VoteCast {
            poll: "default".into(),
            voter_id: Uuid::new_v4(),
            option: "a".into(),
        },
    )
}

fn publisher(vhost: &str) -> Publisher {
    Publisher::new(Arc::new(
        Broker::new(broker_settings("vote-service", vhost), "bounds-publisher").unwrap(),
    ))
}

fn consumer_broker(vhost: &str) -> Arc<Broker> {
    Arc::new(Broker::new(broker_settings("tally-worker", vhost), "bounds-consumer").unwrap())
}

/// Publishes votes until the broker refuses one (at most `limit`); returns the confirmed
/// message ids and the refusal.
async fn fill(publisher: &Publisher, limit: usize) -> (Vec<Uuid>, PublishError) {
    let mut confirmed = Vec::new();
    for _ in 0..limit {
        let envelope = vote();
        match publisher.publish(&envelope).await {
            Ok(()) => confirmed.push(envelope.message_id),
            Err(error) => return (confirmed, error),
        }
    }
    panic!("{limit} publishes and none refused: the queue is not bounded");
}

#[tokio::test]
async fn a_full_queue_refuses_the_next_publish_and_applies_every_confirmed_one_once_drained() {
    let bound = 5;
    let vhost = vhost_bounded(
        &[TALLY_VOTES],
        QueueBounds {
            consumer_queue: bound,
            dead_letter_queue: 3,
        },
    )
    .await;
    let publisher = publisher(&vhost);

    // No consumer: the queue fills. Quorum queues refuse once past the bound, so one more
    // than the bound may be confirmed.
    let (confirmed, refusal) = fill(&publisher, 50).await;
    assert!(
        matches!(refusal, PublishError::Nacked),
        "refused with {refusal:?}"
    );
    assert!(
        (bound as usize..=bound as usize + 1).contains(&confirmed.len()),
        "{} confirmed before the refusal",
        confirmed.len()
    );
    // Refused again on the fresh channel that replaced the nacking one.
    assert!(matches!(
        publisher.publish(&vote()).await,
        Err(PublishError::Nacked)
    ));

    let recorder = Recorder::default();
    let (stop, task) = run_vote_consumer(
        consumer_broker(&vhost),
        recorder.clone(),
        ConsumerSettings::default(),
    );
    for message_id in &confirmed {
        assert!(
            recorder
                .wait_for(*message_id, Duration::from_secs(30))
                .await,
            "confirmed message {message_id} was lost"
        );
    }
    // Caught up: the queue takes publishes again.
    let taken = eventually(Duration::from_secs(30), || async {
        publisher.publish(&vote()).await.is_ok()
    })
    .await;
    assert!(taken, "the drained queue still refuses publishes");
    let _ = stop.send(());
    task.await.unwrap();
}
