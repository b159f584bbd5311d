//! kill -9 of the node a publisher and a consumer are connected to, in the middle of 10,000
//! messages: both move to another node by themselves and nothing confirmed is lost.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{Broker, Consumer, ConsumerSettings, Envelope, Publisher};
use warren_testkit::{
    Recorder, broker_settings, counts_to, eventually, kill_node, node_number, restart_node,
    vhost_with,
};

const MESSAGES: usize = 10_000;
const PUBLISHERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_connected_node_loses_no_confirmed_message() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let publisher_broker =
        Arc::new(Broker::new(broker_settings("vote-service", &vhost), "p").unwrap());
    let consumer_broker =
        Arc::new(Broker::new(broker_settings("tally-worker", &vhost), "c").unwrap());
    let publisher = Arc::new(Publisher::new(publisher_broker.clone()));
    publisher.ping().await.unwrap();

    let tally = Recorder::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(
        consumer_broker.clone(),
        TALLY_VOTES,
        tally.clone(),
        ConsumerSettings::default(),
    );
    let consuming = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));
    consumer_broker.ping().await.unwrap();
    let publisher_node = publisher_broker.connected_node().await.unwrap();
    let consumer_node = consumer_broker.connected_node().await.unwrap();
    assert_eq!(
        publisher_node, consumer_node,
        "both should start on the same node"
    );
    let victim = node_number(&publisher_node);

    let confirmed = Arc::new(Mutex::new(Vec::<(Uuid, Instant)>::new()));
    let confirmed_count = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..PUBLISHERS {
        let (publisher, confirmed, confirmed_count, failures) = (
            publisher.clone(),
            confirmed.clone(),
            confirmed_count.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for _ in 0..MESSAGES / PUBLISHERS {
                let envelope = Envelope::new(
                    "node-failure-test",
                    VoteCast {
                        poll: "default".into(),
                        voter_id: Uuid::new_v4(),
                        option: "a".into(),
                    },
                );
                // As a frontend's user would: try again (same message id) until confirmed.
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    match publisher.publish(&envelope).await {
                        Ok(()) => {
                            confirmed
                                .lock()
                                .unwrap()
                                .push((envelope.message_id, Instant::now()));
                            confirmed_count.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        Err(error) => {
                            failures.fetch_add(1, Ordering::SeqCst);
                            assert!(
                                Instant::now() < deadline,
                                "publishing never resumed: {error}"
                            );
                        }
                    }
                }
            }
        }));
    }
    assert!(counts_to(&confirmed_count, MESSAGES / 3, Duration::from_secs(120)).await);
    kill_node(victim);
    let killed_at = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }

    let confirmed = confirmed.lock().unwrap().clone();
    let resumed_after = confirmed
        .iter()
        .filter(|(_, at)| *at > killed_at)
        .map(|(_, at)| *at - killed_at)
        .min()
        .unwrap();
    assert!(
        resumed_after < Duration::from_secs(10),
        "publishing resumed only after {resumed_after:?}"
    );
    let new_node = publisher_broker.connected_node().await.unwrap();
    assert_ne!(new_node, publisher_node);

    let expected: HashSet<Uuid> = confirmed.iter().map(|(id, _)| *id).collect();
    assert_eq!(expected.len(), MESSAGES);
    let all_consumed = eventually(Duration::from_secs(120), || async {
        expected.iter().all(|id| tally.contains(*id))
    })
    .await;
    let seen = tally.snapshot();
    let lost = expected.iter().filter(|id| !seen.contains_key(id)).count();
    let duplicated: usize = seen.values().map(|n| n.saturating_sub(1)).sum();
    let unexpected = seen.keys().filter(|id| !expected.contains(id)).count();
    println!(
        "node {victim} killed: confirmed {}, lost {lost}, delivered twice or more {duplicated}, \
         unexpected {unexpected}, publish errors retried {}, publishing resumed after {resumed_after:?}",
        expected.len(),
        failures.load(Ordering::SeqCst)
    );
    stop.send(()).unwrap();
    consuming.await.unwrap();
    restart_node(victim).await;
    assert!(
        all_consumed,
        "{lost} confirmed messages were never consumed"
    );
    assert_eq!(lost, 0);
    assert_eq!(unexpected, 0);
}
