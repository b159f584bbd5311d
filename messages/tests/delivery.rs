//! The publisher and consumer runner against the real three-node cluster: confirms, returns,
//! poison, transient failures and redelivery after a crash between commit and ack.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;
use warren_messages::MessageProperties;
use warren_messages::events::votes::VoteCast;
use warren_messages::publisher::Outgoing;
use warren_messages::topology::{TALLY_VOTES, VOTES};
use warren_messages::{
    Broker, ConsumerSettings, Envelope, Handler, Outcome, PublishError, Publisher,
};
use warren_testkit::{
    Management, Recorder, broker_settings, eventually, run_vote_consumer, vhost_with,
};

fn vote(option: &str) -> Envelope<VoteCast> {
    Envelope::new(
        "delivery-test",
        VoteCast {
            poll: "default".into(),
            voter_id: Uuid::new_v4(),
            option: option.into(),
        },
    )
}

fn publisher(vhost: &str) -> Publisher {
    Publisher::new(Arc::new(
        Broker::new(broker_settings("vote-service", vhost), "test-publisher").unwrap(),
    ))
}

fn consumer_broker(vhost: &str) -> Arc<Broker> {
    Arc::new(Broker::new(broker_settings("tally-worker", vhost), "test-consumer").unwrap())
}

/// A consumer of the votes queue on `vhost`, with default settings, recording what it is handed.
fn recording_consumer(
    vhost: &str,
) -> (
    Recorder,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let recorder = Recorder::default();
    let (stop, task) = run_vote_consumer(
        consumer_broker(vhost),
        recorder.clone(),
        ConsumerSettings::default(),
    );
    (recorder, stop, task)
}

async fn queue_is_empty(management: &Management, vhost: &str, queue: &str) -> bool {
    management.queue_depth(vhost, queue).await == 0
}

#[tokio::test]
async fn a_confirmed_message_is_consumed_and_acknowledged() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let envelope = vote("a");
    publisher(&vhost).publish(&envelope).await.unwrap();

    let (recorder, stop, task) = recording_consumer(&vhost);
    assert!(
        recorder
            .wait_for(envelope.message_id, Duration::from_secs(20))
            .await,
        "the message never arrived"
    );
    stop.send(()).unwrap();
    task.await.unwrap();
    let management = Management::new();
    assert!(
        eventually(Duration::from_secs(10), || queue_is_empty(
            &management,
            &vhost,
            TALLY_VOTES.name
        ))
        .await,
        "the message was not acknowledged"
    );
}

#[tokio::test]
async fn publishing_to_a_routing_key_with_no_queue_is_an_error() {
    // No queue here: vote.cast, the one key vote-service may write, is bound to none.
    let vhost = vhost_with(&[]).await;
    let result = publisher(&vhost)
        .publish_raw(Outgoing {
            exchange: VOTES.name,
            routing_key: "vote.cast",
            body: b"{}",
            properties: MessageProperties::default(),
        })
        .await;
    assert!(
        matches!(result, Err(PublishError::Unroutable { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn malformed_and_unknown_version_messages_are_dead_lettered_at_once_and_the_rest_flow() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let publisher = publisher(&vhost);
    let raw = |body: Vec<u8>| {
        let properties = MessageProperties::of(&vote("a"));
        let publisher = &publisher;
        async move {
            publisher
                .publish_raw(Outgoing {
                    exchange: VOTES.name,
                    routing_key: "vote.cast",
                    body: &body,
                    properties,
                })
                .await
                .unwrap()
        }
    };
    raw(b"{not json".to_vec()).await;
    let mut future_version = serde_json::to_value(vote("a")).unwrap();
    future_version["schema_version"] = 99.into();
    raw(serde_json::to_vec(&future_version).unwrap()).await;
    let good: Vec<Envelope<VoteCast>> = (0..10).map(|_| vote("b")).collect();
    for envelope in &good {
        publisher.publish(envelope).await.unwrap();
    }

    let (recorder, stop, task) = recording_consumer(&vhost);
    assert!(
        eventually(Duration::from_secs(20), || async { recorder.total() >= 10 }).await,
        "the messages behind the poison did not flow"
    );
    let management = Management::new();
    let dead = TALLY_VOTES.dead_letter_queue();
    assert!(
        management
            .reaches_depth(&vhost, &dead, 2, Duration::from_secs(10))
            .await,
        "expected both poison messages in {dead}"
    );
    stop.send(()).unwrap();
    task.await.unwrap();
    // The handler never saw the poison: it went to the dead-letter queue on its first delivery.
    assert_eq!(recorder.total(), 10);
    let messages = management
        .post_json(
            &format!("queues/{vhost}/{dead}/get"),
            &serde_json::json!({ "count": 2, "ackmode": "ack_requeue_true", "encoding": "auto" }),
        )
        .await;
    let reasons: Vec<String> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            message["properties"]["headers"]["x-warren-reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|reason| reason.contains("not a valid envelope")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|reason| reason.contains("unknown schema version 99")),
        "{reasons:?}"
    );
    assert!(queue_is_empty(&management, &vhost, TALLY_VOTES.name).await);
}

/// Answers "retry later" while its database is down, and applies messages once it is up.
#[derive(Clone, Default)]
struct FlakyStore {
    down: Arc<AtomicBool>,
    applied: Arc<Mutex<HashMap<Uuid, usize>>>,
    refusals: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Handler<Envelope<VoteCast>> for FlakyStore {
    async fn handle(&self, batch: &[Envelope<VoteCast>]) -> Vec<Outcome> {
        if self.down.load(Ordering::SeqCst) {
            self.refusals.fetch_add(1, Ordering::SeqCst);
            return vec![Outcome::RetryLater("database is down".into()); batch.len()];
        }
        let mut applied = self.applied.lock().unwrap();
        for envelope in batch {
            *applied.entry(envelope.message_id).or_default() += 1;
        }
        vec![Outcome::Done; batch.len()]
    }
}

#[tokio::test]
async fn retry_later_for_twenty_seconds_dead_letters_nothing_and_everything_is_applied_after() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let store = FlakyStore::default();
    store.down.store(true, Ordering::SeqCst);
    // Short in-place retries so that the delayed-retry queue is exercised as well.
    let settings = ConsumerSettings {
        retry_in_place_ms: 3_000,
        ..ConsumerSettings::default()
    };
    let (stop, task) = run_vote_consumer(consumer_broker(&vhost), store.clone(), settings);
    let publisher = publisher(&vhost);
    let sent: Vec<Envelope<VoteCast>> = (0..50).map(|_| vote("a")).collect();
    for envelope in &sent {
        publisher.publish(envelope).await.unwrap();
    }
    let down_since = tokio::time::Instant::now();
    let management = Management::new();
    let dead = TALLY_VOTES.dead_letter_queue();
    // The outage lasts 20 s; throughout it, nothing may reach the dead-letter queue.
    let mut sample = tokio::time::interval(Duration::from_millis(500));
    while down_since.elapsed() < Duration::from_secs(20) {
        sample.tick().await;
        assert_eq!(
            management.queue_depth(&vhost, &dead).await,
            0,
            "dead-lettered during an outage"
        );
    }
    assert!(
        store.refusals.load(Ordering::SeqCst) > 3,
        "the handler was not retried"
    );
    store.down.store(false, Ordering::SeqCst);

    let applied = store.applied.clone();
    assert!(
        eventually(Duration::from_secs(30), || {
            let applied = applied.clone();
            let sent = sent.clone();
            async move {
                let applied = applied.lock().unwrap();
                sent.iter()
                    .all(|envelope| applied.contains_key(&envelope.message_id))
            }
        })
        .await,
        "not every message was applied after the outage"
    );
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(management.queue_depth(&vhost, &dead).await, 0);
}

async fn publish_and_expect(vhost: &str, recorder: &Recorder) {
    let envelope = vote("a");
    publisher(vhost).publish(&envelope).await.unwrap();
    assert!(
        recorder
            .wait_for(envelope.message_id, Duration::from_secs(30))
            .await,
        "the consumer did not come back"
    );
}

#[tokio::test]
async fn a_consumer_whose_connection_the_server_closes_subscribes_again() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let (recorder, stop, task) = recording_consumer(&vhost);
    publish_and_expect(&vhost, &recorder).await;

    Management::new()
        .close_connection(&vhost, "test-consumer")
        .await;
    publish_and_expect(&vhost, &recorder).await;
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn publishing_and_consuming_show_in_the_metrics() {
    warren_service_kit::ops::install_metrics();
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let (recorder, stop, task) = recording_consumer(&vhost);
    publish_and_expect(&vhost, &recorder).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    let text = warren_service_kit::ops::metrics_handle().render();
    for expected in [
        "warren_messages_published_total{exchange=\"warren.votes\"}",
        "warren_messages_publish_outcomes_total{exchange=\"warren.votes\",outcome=\"confirmed\"}",
        "warren_messages_consumed_total{queue=\"tally-worker.votes\"}",
        "warren_messages_acked_total{queue=\"tally-worker.votes\"}",
        "warren_publish_confirm_timeout_seconds ",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // How long confirms take, against the deadline: what the slow-confirms alert compares.
    let confirmed = "warren_publish_confirm_seconds_count{exchange=\"warren.votes\"} ";
    let timed: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix(confirmed))
        .unwrap_or_else(|| panic!("{confirmed} missing from:\n{text}"))
        .parse()
        .unwrap();
    assert!(timed >= 1.0, "no confirm was timed:\n{text}");
}
