//! The outbox relay: rows are published without new traffic (also those a stopped instance
//! left), poison is set aside with its reason while the rows behind it go out, a refusal that
//! may pass keeps the row, and publishing uses a connection apart from the consumer's.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use serde_json::{Value, json};
use user_service::outbox::{self, Outgoing};
use user_service::startup::{SERVICE, build};
use uuid::Uuid;
use warren_messages::events::lockers::LockerRequested;
use warren_messages::events::users::{LockerWanted, RegistrationRequested};
use warren_messages::topology::{
    ConsumerQueue, LOCKER_SERVICE_LOCKERS, LOCKERS, USER_SERVICE_USERS,
};
use warren_messages::{Broker, Consumer, ConsumerSettings, Envelope, Handler, Outcome, Publisher};
use warren_testkit::proxy::{FaultProxy, Link};
use warren_testkit::{Management, broker_settings, eventually, spawn, vhost_with};

mod common;

use common::{WITHIN, settings, with_both_queues};

fn request(user: &str) -> Envelope<LockerRequested> {
    Envelope::new(
        SERVICE,
        LockerRequested {
            request_id: Uuid::now_v7(),
            user: user.to_owned(),
        },
    )
}

/// Stages `messages` as the consumer does, committed, and nobody publishes them.
async fn left_behind(pool: &Pool, messages: &[Envelope<LockerRequested>]) {
    let mut client = pool.get().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    for message in messages {
        outbox::stage(&transaction, &Outgoing::Request(message.clone()))
            .await
            .unwrap();
    }
    transaction.commit().await.unwrap();
}

async fn count(pool: &Pool, table: &str) -> i64 {
    pool.get()
        .await
        .unwrap()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// The message ids waiting in `queue` (left there).
/// Waits until `depth` messages wait in locker-service's queue (else fails, saying `what` was
/// not published) and the outbox is empty.
async fn assert_published(
    management: &Management,
    vhost: &str,
    pool: &Pool,
    depth: u64,
    what: &str,
) {
    assert!(
        management
            .reaches_depth(vhost, LOCKER_SERVICE_LOCKERS.name, depth, WITHIN)
            .await,
        "{what}"
    );
    assert!(eventually(WITHIN, || async { count(pool, "outbox").await == 0 }).await);
}

async fn queued_ids(management: &Management, vhost: &str, queue: &ConsumerQueue) -> HashSet<Uuid> {
    let messages = management
        .post_json(
            &format!("queues/{vhost}/{}/get", queue.name),
            &json!({"count": 100, "ackmode": "ack_requeue_true", "encoding": "auto"}),
        )
        .await;
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            message["properties"]["message_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn rows_left_by_a_stopped_instance_are_published_without_new_traffic() {
    let (vhost, settings, pool) = with_both_queues().await;
    let messages: Vec<_> = ["ada", "bob", "cy"].into_iter().map(request).collect();
    left_behind(&pool, &messages).await;

    let running = spawn(build(settings).await.unwrap());
    let management = Management::new();
    assert_published(
        &management,
        &vhost,
        &pool,
        3,
        "the rows in the outbox were not published",
    )
    .await;
    let expected: HashSet<Uuid> = messages.iter().map(|message| message.message_id).collect();
    assert_eq!(
        queued_ids(&management, &vhost, &LOCKER_SERVICE_LOCKERS).await,
        expected
    );
    running.stop().await;
}

/// Records when each locker request reached locker-service's queue's consumer.
#[derive(Clone, Default)]
struct Arrivals(Arc<std::sync::Mutex<Vec<(Uuid, Instant)>>>);

#[async_trait::async_trait]
impl Handler<Envelope<LockerRequested>> for Arrivals {
    async fn handle(&self, batch: &[Envelope<LockerRequested>]) -> Vec<Outcome> {
        let now = Instant::now();
        let mut arrivals = self.0.lock().unwrap();
        arrivals.extend(batch.iter().map(|message| (message.message_id, now)));
        vec![Outcome::Done; batch.len()]
    }
}

#[tokio::test]
async fn a_batch_is_published_with_its_confirms_in_flight_together() {
    let (vhost, mut settings, pool) = with_both_queues().await;
    let messages: Vec<_> = (0..8).map(|n| request(&format!("user-{n}"))).collect();
    left_behind(&pool, &messages).await;
    // Every chunk user-service sends or receives waits DELAY: a publish and its confirm take
    // at least two, so one at a time the eight would arrive at least 14 DELAYs apart.
    const DELAY: Duration = Duration::from_millis(250);
    let node = warren_testkit::amqp_nodes()[0].clone();
    let proxy = FaultProxy::start(node.trim_start_matches("amqp://").to_owned()).await;
    proxy.set(Link::Slow(DELAY));
    settings.broker.nodes = vec![format!("amqp://{}", proxy.address())];

    let arrivals = Arrivals::default();
    let receiver =
        Arc::new(Broker::new(broker_settings("locker-service", &vhost), "test-receiver").unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = tokio::spawn(
        Consumer::new(
            receiver,
            LOCKER_SERVICE_LOCKERS,
            arrivals.clone(),
            ConsumerSettings::default(),
        )
        .run(async {
            let _ = stopped.await;
        }),
    );
    let running = spawn(build(settings).await.unwrap());
    assert!(
        eventually(Duration::from_secs(60), || async {
            arrivals.0.lock().unwrap().len() >= messages.len()
        })
        .await,
        "the rows were not published"
    );
    let times: Vec<Instant> = arrivals
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, at)| *at)
        .collect();
    let spread = *times.iter().max().unwrap() - *times.iter().min().unwrap();
    assert!(
        spread < DELAY * 6,
        "the rows went out one confirm after another: {spread:?} from the first to the last"
    );
    running.stop().await;
    stop.send(()).unwrap();
    consumer.await.unwrap();
}

#[tokio::test]
async fn a_row_that_can_never_be_published_is_set_aside_and_the_rows_behind_it_go_out() {
    let (vhost, settings, pool) = with_both_queues().await;
    let unknown_type = Uuid::now_v7();
    let undecodable = Uuid::now_v7();
    pool.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO outbox (message_id, event_type, body, created_at) VALUES \
             ($1, 'locker.exploded', '{}', now() - interval '2 minutes'), \
             ($2, 'locker.requested', 'not an envelope', now() - interval '1 minute')",
            &[&unknown_type, &undecodable],
        )
        .await
        .unwrap();
    let good: Vec<_> = ["ada", "bob"].into_iter().map(request).collect();
    left_behind(&pool, &good).await;

    let running = spawn(build(settings).await.unwrap());
    let management = Management::new();
    assert_published(
        &management,
        &vhost,
        &pool,
        2,
        "the rows behind the poison were not published",
    )
    .await;
    let dead = pool
        .get()
        .await
        .unwrap()
        .query(
            "SELECT message_id, reason FROM outbox_dead ORDER BY created_at",
            &[],
        )
        .await
        .unwrap();
    let dead: Vec<(Uuid, String)> = dead.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0].0, unknown_type);
    assert!(dead[0].1.contains("locker.exploded"), "{dead:?}");
    assert_eq!(dead[1].0, undecodable);
    assert!(
        dead[1].1.contains("not a locker.requested envelope"),
        "{dead:?}"
    );
    let metrics = reqwest::get(running.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for reason in ["unknown-type", "undecodable"] {
        assert!(
            metrics.contains(&format!(
                "warren_outbox_dead_lettered_total{{reason=\"{reason}\"}}"
            )),
            "{metrics}"
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn a_message_the_broker_cannot_route_is_set_aside() {
    // No queue is bound for locker requests on this vhost.
    let vhost = vhost_with(&[USER_SERVICE_USERS]).await;
    let (settings, pool) = settings(&vhost).await;
    let message = request("ada");
    left_behind(&pool, std::slice::from_ref(&message)).await;

    let running = spawn(build(settings).await.unwrap());
    assert!(
        eventually(WITHIN, || async { count(&pool, "outbox_dead").await == 1 }).await,
        "the unroutable row was not set aside"
    );
    assert_eq!(count(&pool, "outbox").await, 0);
    let reason: String = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT reason FROM outbox_dead WHERE message_id = $1",
            &[&message.message_id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(reason.contains("returned"), "{reason}");
    running.stop().await;
}

/// How often publishing to the lockers exchange failed in a way that may pass, in this process.
async fn transient_publish_failures(metrics_url: &str) -> u64 {
    let metrics = reqwest::get(metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("warren_messages_publish_outcomes_total")
                && line.contains(&format!("exchange=\"{}\"", LOCKERS.name))
                && ["unknown", "failed", "nacked", "refused"]
                    .iter()
                    .any(|outcome| line.contains(&format!("outcome=\"{outcome}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn a_row_the_broker_refuses_for_now_is_kept_and_published_once_it_accepts() {
    let queues = [USER_SERVICE_USERS, LOCKER_SERVICE_LOCKERS];
    let vhost = vhost_with(&queues).await;
    let (settings, pool) = settings(&vhost).await;
    let management = Management::new();
    // user-service may not publish anything on this vhost for now.
    management
        .post(
            "definitions",
            &json!({"permissions": [{
                "user": SERVICE, "vhost": vhost,
                "configure": "^$", "write": "^$", "read": ".*"
            }]}),
        )
        .await;
    let message = request("ada");
    left_behind(&pool, std::slice::from_ref(&message)).await;

    let running = spawn(build(settings).await.unwrap());
    let metrics_url = running.admin_url("/metrics");
    assert!(
        eventually(WITHIN, || async {
            transient_publish_failures(&metrics_url).await > 0
        })
        .await,
        "the relay never tried to publish"
    );
    assert_eq!(
        count(&pool, "outbox").await,
        1,
        "a refused row left the outbox"
    );
    assert_eq!(
        count(&pool, "outbox_dead").await,
        0,
        "a refusal was taken for poison"
    );

    warren_testkit::redeclare(&vhost, &queues).await;
    assert_published(
        &management,
        &vhost,
        &pool,
        1,
        "the row was not published once the broker accepted it",
    )
    .await;
    running.stop().await;
}

/// The server-side names of the connections of `user`'s channels on `vhost` that satisfy
/// `wanted`.
fn connections_of(
    channels: &Value,
    user: &str,
    wanted: impl Fn(&Value) -> bool,
) -> HashSet<String> {
    channels
        .as_array()
        .unwrap()
        .iter()
        .filter(|channel| channel["user"] == user && wanted(channel))
        .map(|channel| {
            channel["connection_details"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn user_service_publishes_on_a_connection_apart_from_the_one_it_consumes_on() {
    let (vhost, settings, _pool) = with_both_queues().await;
    let running = spawn(build(settings).await.unwrap());

    let app = Arc::new(Broker::new(broker_settings("locker-app", &vhost), "test-app").unwrap());
    let publisher = Publisher::new(app.clone());
    let name = "ada".to_owned();
    let register = Envelope::new(
        "locker-app",
        RegistrationRequested {
            request_id: Uuid::now_v7(),
            name: name.clone(),
            password_hash: warren_service_kit::passwords::hash("correct horse battery").unwrap(),
        },
    );
    publisher.publish(&register).await.unwrap();
    let want = Envelope::new(
        "locker-app",
        LockerWanted {
            request_id: Uuid::now_v7(),
            name,
            actor: None,
        },
    );
    publisher.publish(&want).await.unwrap();
    let management = Management::new();
    assert!(
        management
            .reaches_depth(&vhost, LOCKER_SERVICE_LOCKERS.name, 1, WITHIN)
            .await,
        "the locker request was not forwarded"
    );

    let last = std::sync::Mutex::new(Value::Null);
    let apart = eventually(WITHIN, || {
        let (management, vhost, last) = (management.clone(), vhost.clone(), &last);
        async move {
            let channels = management.get(&format!("vhosts/{vhost}/channels")).await;
            let consuming = connections_of(&channels, SERVICE, |channel| {
                channel["consumer_count"].as_u64().unwrap_or(0) > 0
            });
            let publishing =
                connections_of(&channels, SERVICE, |channel| channel["confirm"] == true);
            *last.lock().unwrap() = channels;
            !consuming.is_empty() && !publishing.is_empty() && consuming.is_disjoint(&publishing)
        }
    })
    .await;
    assert!(
        apart,
        "publishing shares the consumer's connection: {:#}",
        last.lock().unwrap()
    );
    app.close().await;
    running.stop().await;
}
