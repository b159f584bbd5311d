//! Who may send what, enforced by the broker and checked by every consumer: each broker user
//! publishes only its own event types (topic permissions per routing key), the broker refuses a
//! `user_id` that is not the connection's user, and a consumer dead-letters an event that its
//! type's one producer did not send. Each test runs in a vhost that testkit makes from the
//! production definitions.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;
use uuid::Uuid;
use warren_messages::events::lockers::{LockerAddRequested, LockerAssigned, LockerRequested};
use warren_messages::topology::{
    CONSUMER_QUEUES, DEAD, Exchange, LOCKER_SERVICE_LOCKERS, LOCKERS, RETRY, SERVICE_USERS,
};
use warren_messages::{
    Broker, Consumer, ConsumerSettings, Envelope, Event, Handler, Outcome, PublishError,
};
use warren_testkit::{
    Management, amqp_nodes, broker_password, broker_settings, eventually, publisher_as, vhost_with,
};

/// A bare client logged in as `user`, free to publish what Warren's publisher never would.
async fn connect(user: &str, vhost: &str) -> Connection {
    let node = amqp_nodes().remove(0);
    let address = node.trim_start_matches("amqp://");
    let password = broker_password(user);
    let uri = format!("amqp://{user}:{password}@{address}/{vhost}");
    Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap()
}

/// Publishes on a fresh confirm-mode channel: `Ok` on an ack, else the broker's reply code and
/// text, after which the broker has closed the channel.
async fn publish(
    connection: &Connection,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), (u16, String)> {
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .unwrap()
        .await;
    match confirm {
        Ok(confirmation) => {
            assert!(confirmation.is_ack(), "{exchange}/{routing_key} was nacked");
            channel.close(200, "done".into()).await.unwrap();
            Ok(())
        }
        Err(error) => {
            let lapin::ErrorKind::ProtocolError(amqp) = error.kind() else {
                panic!("{exchange}/{routing_key}: not a refusal: {error}");
            };
            assert!(
                !channel.status().connected(),
                "a refused publish leaves its channel open"
            );
            Err((amqp.get_id(), amqp.get_message().to_string()))
        }
    }
}

const ACCESS_REFUSED: u16 = 403;
const PRECONDITION_FAILED: u16 = 406;

#[tokio::test]
async fn each_service_may_publish_only_its_own_event_types_and_its_own_queues_retries() {
    let vhost = vhost_with(&[]).await;
    for user in SERVICE_USERS {
        let connection = connect(user.name, &vhost).await;
        let may_write = user.writable_exchanges();
        // Every event type of every service, and every queue's key on the retry and dead-letter
        // exchanges, with whether `user` may send it.
        let mut attempts: Vec<(Exchange, &str, bool)> = Vec::new();
        for producer in SERVICE_USERS {
            for (exchange, key) in producer.publishes {
                attempts.push((*exchange, key, producer.name == user.name));
            }
        }
        for queue in CONSUMER_QUEUES {
            for exchange in [RETRY, DEAD] {
                attempts.push((exchange, queue.name, queue.owner == user.name));
            }
        }
        for (exchange, key, allowed) in attempts {
            let result = publish(&connection, exchange.name, key, b"{}", props()).await;
            let what = format!("{} publishing {key} on {}", user.name, exchange.name);
            if allowed {
                assert_eq!(result, Ok(()), "{what}");
                continue;
            }
            let (code, reason) = result.expect_err(&what);
            assert_eq!(code, ACCESS_REFUSED, "{what}: {reason}");
            // Where it may write the exchange, the routing key is what the broker refuses.
            if may_write.contains(&exchange.name) {
                assert!(
                    reason.contains(&format!("topic '{key}'")),
                    "{what}: {reason}"
                );
            }
        }
        connection.close(200, "done".into()).await.unwrap();
    }
}

fn props() -> BasicProperties {
    BasicProperties::default()
}

#[tokio::test]
async fn the_publisher_reports_a_refused_routing_key_and_publishes_the_next_message_on_a_new_channel()
 {
    let vhost = vhost_with(&[LOCKER_SERVICE_LOCKERS]).await;
    let (broker, publisher) = publisher_as("locker-app", &vhost, "test-refused");
    // locker-service's outcome, which locker-app may not send.
    let forged = Envelope::new(
        "locker-app",
        LockerAssigned {
            request_id: Uuid::now_v7(),
            user: "ada".into(),
            code: "A-1".into(),
        },
    );
    let error = publisher.publish(&forged).await.unwrap_err();
    assert!(matches!(error, PublishError::Refused(_)), "{error:?}");
    assert!(!error.outcome_unknown());
    let text = error.to_string();
    assert!(
        text.contains("ACCESS_REFUSED") && text.contains("locker.assigned"),
        "{text}"
    );

    let own = Envelope::new(
        "locker-app",
        LockerAddRequested {
            request_id: Uuid::now_v7(),
            code: "A-1".into(),
            location: "hall".into(),
            actor: None,
        },
    );
    publisher.publish(&own).await.unwrap();
    assert!(
        Management::new()
            .reaches_depth(
                &vhost,
                LOCKER_SERVICE_LOCKERS.name,
                1,
                Duration::from_secs(10)
            )
            .await
    );
    broker.close().await;
}

#[tokio::test]
async fn the_broker_refuses_a_user_id_that_is_not_the_connections_user() {
    let vhost = vhost_with(&[]).await;
    let connection = connect("locker-app", &vhost).await;
    let as_user = |user: &str| props().with_user_id(ShortString::from(user.to_owned()));
    let key = LockerAddRequested::TYPE;
    let forged = publish(
        &connection,
        LOCKERS.name,
        key,
        b"{}",
        as_user("user-service"),
    )
    .await;
    let (code, reason) = forged.expect_err("a forged user_id was taken");
    assert_eq!(code, PRECONDITION_FAILED, "{reason}");
    assert!(reason.contains("user_id"), "{reason}");
    let own = publish(&connection, LOCKERS.name, key, b"{}", as_user("locker-app")).await;
    assert_eq!(own, Ok(()));
    connection.close(200, "done".into()).await.unwrap();
}

/// Records the requests it is handed; asks for each to be retried later the first time, so
/// that every message also makes the trip through the retry queue.
#[derive(Clone, Default)]
struct Requests(Arc<Mutex<HashMap<Uuid, usize>>>);

impl Requests {
    fn seen(&self, id: Uuid) -> usize {
        self.0.lock().unwrap().get(&id).copied().unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl Handler<Envelope<LockerRequested>> for Requests {
    async fn handle(&self, batch: &[Envelope<LockerRequested>]) -> Vec<Outcome> {
        let mut seen = self.0.lock().unwrap();
        batch
            .iter()
            .map(|envelope| {
                let count = seen.entry(envelope.message_id).or_default();
                *count += 1;
                if *count == 1 {
                    Outcome::RetryLater("first sight".into())
                } else {
                    Outcome::Done
                }
            })
            .collect()
    }
}

fn request() -> Envelope<LockerRequested> {
    Envelope::new(
        "user-service",
        LockerRequested {
            request_id: Uuid::now_v7(),
            user: "ada".into(),
        },
    )
}

/// `envelope` as a bare client sends it: its message id, and `user_id` if given.
fn raw_properties(envelope: &Envelope<LockerRequested>, user_id: Option<&str>) -> BasicProperties {
    let properties = props()
        .with_message_id(ShortString::from(envelope.message_id.to_string()))
        .with_type(ShortString::from(LockerRequested::TYPE));
    match user_id {
        Some(user) => properties.with_user_id(ShortString::from(user.to_owned())),
        None => properties,
    }
}

#[tokio::test]
async fn an_event_from_anyone_but_its_producer_is_dead_lettered_with_the_reason_and_not_applied() {
    let queue = LOCKER_SERVICE_LOCKERS;
    let vhost = vhost_with(&[queue]).await;
    let requests = Requests::default();
    let broker = Arc::new(Broker::new(broker_settings("locker-service", &vhost), "c").unwrap());
    let settings = ConsumerSettings {
        retry_in_place_ms: 0,
        ..ConsumerSettings::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = tokio::spawn(
        Consumer::new(broker, queue, requests.clone(), settings).run(async {
            let _ = stopped.await;
        }),
    );

    // locker-app may write its own locker.add-requested, and slips user-service's request in
    // under that key, as itself (the broker allows no other user_id).
    let forged = request();
    let locker_app = connect("locker-app", &vhost).await;
    let body = serde_json::to_vec(&forged).unwrap();
    let properties = raw_properties(&forged, Some("locker-app"));
    publish(
        &locker_app,
        LOCKERS.name,
        LockerAddRequested::TYPE,
        &body,
        properties,
    )
    .await
    .unwrap();
    // user-service's own request, from a client that names no user_id.
    let anonymous = request();
    let user_service = connect("user-service", &vhost).await;
    let body = serde_json::to_vec(&anonymous).unwrap();
    let properties = raw_properties(&anonymous, None);
    publish(
        &user_service,
        LOCKERS.name,
        LockerRequested::TYPE,
        &body,
        properties,
    )
    .await
    .unwrap();
    // And one through Warren's publisher, which is applied after its trip through the retry
    // queue, whose copy the consumer itself published.
    let genuine = request();
    let (publishing, publisher) = publisher_as("user-service", &vhost, "p");
    publisher.publish(&genuine).await.unwrap();

    assert!(
        eventually(Duration::from_secs(30), || async {
            requests.seen(genuine.message_id) == 2
        })
        .await,
        "the genuine request was not applied after its retry"
    );
    let management = Management::new();
    let dead = queue.dead_letter_queue();
    assert!(
        management
            .reaches_depth(&vhost, &dead, 2, Duration::from_secs(10))
            .await,
        "expected the forged and the anonymous request in {dead}"
    );
    stop.send(()).unwrap();
    consumer.await.unwrap();
    assert_eq!(requests.seen(forged.message_id), 0);
    assert_eq!(requests.seen(anonymous.message_id), 0);
    assert_eq!(management.queue_depth(&vhost, &dead).await, 2);

    let messages = management
        .post_json(
            &format!("queues/{vhost}/{dead}/get"),
            &json!({ "count": 2, "ackmode": "ack_requeue_true", "encoding": "auto" }),
        )
        .await;
    let reasons: HashMap<String, String> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            let properties = &message["properties"];
            (
                properties["message_id"].as_str().unwrap().to_owned(),
                properties["headers"]["x-warren-reason"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let reason = &reasons[&forged.message_id.to_string()];
    assert!(
        reason.contains("locker.requested may come only from user-service, but locker-app sent it"),
        "{reason}"
    );
    let reason = &reasons[&anonymous.message_id.to_string()];
    assert!(reason.contains("no user_id"), "{reason}");
    for connection in [locker_app, user_service] {
        connection.close(200, "done".into()).await.unwrap();
    }
    publishing.close().await;
}
