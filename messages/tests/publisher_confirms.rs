//! Confirms and returns on the publisher's shared channel: with many publishes in flight,
//! each caller hears about its own message, never about a neighbour's.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;
use warren_messages::MessageProperties;
use warren_messages::events::votes::VoteCast;
use warren_messages::publisher::Outgoing;
use warren_messages::topology::VOTES;
use warren_messages::{Broker, Envelope, PublishError, Publisher};
use warren_testkit::{Management, amqp_nodes, broker_settings, eventually, vhost_with};

use support::AmqpProxy;

fn vote() -> Envelope<VoteCast> {
    Envelope::new(
        "publisher-confirms-test",
        VoteCast {
            poll: "default".into(),
            voter_id: Uuid::new_v4(),
            option: "a".into(),
        },
    )
}

#[tokio::test]
async fn concurrent_routed_and_unroutable_publishes_each_get_their_own_answer() {
    const COUNT: usize = 4_000;
    const QUEUES: usize = 8;
    const ROUNDS: usize = 3;
    let vhost = vhost_with(&[]).await;
    // Several quorum queues, so that their confirms reach the channel as many separate events.
    // Each has a routing key of its own, and other keys go nowhere: in this vhost vote-service
    // may write any routing key on its exchange, not only vote.cast.
    let queues: Vec<String> = (0..QUEUES).map(|queue| format!("burst-{queue}")).collect();
    let management = Management::new();
    management
        .post(
            "definitions",
            &json!({
                "queues": queues.iter().map(|name| json!({
                    "name": name, "vhost": vhost, "durable": true, "auto_delete": false,
                    "arguments": { "x-queue-type": "quorum" },
                })).collect::<Vec<_>>(),
                "bindings": queues.iter().map(|name| json!({
                    "source": VOTES.name, "vhost": vhost, "destination": name,
                    "destination_type": "queue", "routing_key": name, "arguments": {},
                })).collect::<Vec<_>>(),
                "topic_permissions": [{
                    "user": "vote-service", "vhost": vhost, "exchange": VOTES.name,
                    "write": ".*", "read": "^$",
                }],
            }),
        )
        .await;
    let proxy = AmqpProxy::start(&amqp_nodes()[0]).await;
    let mut settings = broker_settings("vote-service", &vhost);
    settings.nodes = vec![proxy.node()];
    settings.heartbeat_secs = 60;
    settings.confirm_timeout_ms = 20_000;
    let publisher = Arc::new(Publisher::new(Arc::new(
        Broker::new(settings, "test-confirms").unwrap(),
    )));
    publisher.ping().await.unwrap();

    // The broker gets the publishes as one burst, so that while its channel works through
    // them, confirms from the queues pile up and go out together with the next returns: one
    // multiple-ack, or single acks after a return that is not theirs.
    let mut wrong = Vec::new();
    for _ in 0..ROUNDS {
        proxy.hold_client();
        let tasks: Vec<_> = (0..COUNT)
            .map(|index| {
                let publisher = publisher.clone();
                let routing_key = if index % 2 == 0 {
                    format!("burst-{}", index / 2 % QUEUES)
                } else {
                    "nobody-listens".to_owned()
                };
                tokio::spawn(async move {
                    let envelope = vote();
                    let body = serde_json::to_vec(&envelope).unwrap();
                    let result = publisher
                        .publish_raw(Outgoing {
                            exchange: VOTES.name,
                            routing_key: &routing_key,
                            body: &body,
                            properties: MessageProperties::of(&envelope),
                        })
                        .await;
                    (index % 2 == 0, result)
                })
            })
            .collect();
        assert!(
            eventually(Duration::from_secs(15), || async {
                proxy.held_publishes() == COUNT
            })
            .await,
            "only {} of {COUNT} publishes reached the proxy",
            proxy.held_publishes()
        );
        proxy.release_client();
        for task in tasks {
            let (routed, result) = task.await.unwrap();
            let right = matches!(
                (routed, &result),
                (true, Ok(())) | (false, Err(PublishError::Unroutable { .. }))
            );
            if !right {
                wrong.push(format!("routed={routed}: {result:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} publishes got another message's answer, e.g. {:?}",
        wrong.len(),
        ROUNDS * COUNT,
        &wrong[..wrong.len().min(4)]
    );
    for queue in &queues {
        assert!(
            management
                .reaches_depth(
                    &vhost,
                    queue,
                    (ROUNDS * COUNT / 2 / QUEUES) as u64,
                    Duration::from_secs(20)
                )
                .await,
            "{queue} does not hold exactly the messages routed to it"
        );
    }
    management.delete(&format!("vhosts/{vhost}")).await;
}
