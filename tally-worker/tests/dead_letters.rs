//! The alert metric for poison piling up: tally-worker reports its dead-letter queue's depth in
//! `/metrics` (`warren_dead_letter_queue_depth`), read from the broker, so an alert can fire
//! before the queue reaches its bound.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use warren_messages::MessageProperties;
use warren_messages::publisher::Outgoing;
use warren_messages::topology::{DEAD, TALLY_VOTES};
use warren_testkit::web::{browser, page};
use warren_testkit::{eventually, postgres_database, publisher_as, vhost_with};

/// The worker's `/metrics` text (on its admin listener).
async fn metrics(url: &str) -> String {
    page(&browser(), url).await
}

#[tokio::test]
async fn the_dead_letter_queue_depth_is_in_the_metrics() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let database = postgres_database().await;
    let worker = common::worker(&vhost, &database).await;
    // Poison as the worker itself dead-letters it: its queue's name on `warren.dead`.
    let (broker, publisher) = publisher_as("tally-worker", &vhost, "dead-letters-test");
    for body in [&b"poison one"[..], b"poison two", b"poison three"] {
        publisher
            .publish_raw(Outgoing {
                exchange: DEAD.name,
                routing_key: TALLY_VOTES.name,
                body,
                properties: MessageProperties::default(),
            })
            .await
            .unwrap();
    }
    broker.close().await;

    let line = format!(
        "warren_dead_letter_queue_depth{{queue=\"{}\"}} 3",
        TALLY_VOTES.dead_letter_queue()
    );
    let url = worker.admin_url("/metrics");
    let reported = eventually(Duration::from_secs(20), || async {
        metrics(&url)
            .await
            .lines()
            .any(|candidate| candidate == line)
    })
    .await;
    assert!(reported, "no {line:?} in:\n{}", metrics(&url).await);
    worker.stop().await;
}
