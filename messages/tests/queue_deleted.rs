//! A consumer whose queue is deleted under it (the server may or may not send basic.cancel)
//! notices, and consumes again once the queue is declared again. Its own test binary: it
//! reads a process-wide metric.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{Broker, Consumer, ConsumerSettings, Envelope, Publisher};
use warren_testkit::{Management, Recorder, broker_settings, eventually, redeclare, vhost_with};

async fn publish_and_expect(vhost: &str, recorder: &Recorder) {
    let envelope = Envelope::new(
        "queue-deleted-test",
        VoteCast {
            poll: "default".into(),
            voter_id: Uuid::new_v4(),
            option: "a".into(),
        },
    );
    let broker = Broker::new(broker_settings("vote-service", vhost), "p").unwrap();
    Publisher::new(Arc::new(broker))
        .publish(&envelope)
        .await
        .unwrap();
    assert!(
        recorder
            .wait_for(envelope.message_id, Duration::from_secs(30))
            .await,
        "the message was not consumed"
    );
}

fn subscriptions_lost() -> u64 {
    let text = warren_service_kit::ops::metrics_handle().render();
    text.lines()
        .find(|line| {
            line.starts_with(
                "warren_consumer_subscriptions_lost_total{queue=\"tally-worker.votes\"}",
            )
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_consumer_whose_queue_is_deleted_consumes_again_once_it_is_declared_again() {
    warren_service_kit::ops::install_metrics();
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let recorder = Recorder::default();
    let broker = Arc::new(Broker::new(broker_settings("tally-worker", &vhost), "c").unwrap());
    let consumer = Consumer::new(
        broker,
        TALLY_VOTES,
        recorder.clone(),
        ConsumerSettings::default(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));
    publish_and_expect(&vhost, &recorder).await;
    assert_eq!(subscriptions_lost(), 0);

    Management::new()
        .delete(&format!("queues/{vhost}/{}", TALLY_VOTES.name))
        .await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            subscriptions_lost() >= 1
        })
        .await,
        "the consumer did not notice that its queue is gone"
    );
    redeclare(&vhost, &[TALLY_VOTES]).await;
    publish_and_expect(&vhost, &recorder).await;
    stop.send(()).unwrap();
    task.await.unwrap();
}
