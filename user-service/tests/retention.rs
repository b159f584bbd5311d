//! `applied_messages` is pruned past its horizon, and an outcome that locker-service sends
//! again after its claim was pruned still has no second effect.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use deadpool_postgres::Pool;
use user_service::startup::build;
use uuid::Uuid;
use warren_messages::events::lockers::{LockerAssigned, LockerReleased};
use warren_messages::events::users::{LockerWanted, RegistrationRequested, ReleaseWanted};
use warren_messages::topology::USER_SERVICE_USERS;
use warren_messages::{Broker, Envelope, Event, Publisher, exactly_once};
use warren_testkit::{Management, eventually, publisher_as, spawn, vhost_with};

mod common;

use common::{WITHIN, settings, with_both_queues};

/// Whether the request `request_id` is in the request log.
async fn requested(pool: &Pool, request_id: Uuid) -> bool {
    pool.get()
        .await
        .unwrap()
        .query_opt(
            "SELECT 1 FROM requests WHERE request_id = $1",
            &[&request_id],
        )
        .await
        .unwrap()
        .is_some()
}

async fn claimed(pool: &Pool, message_id: Uuid) -> bool {
    pool.get()
        .await
        .unwrap()
        .query_opt(
            "SELECT 1 FROM applied_messages WHERE message_id = $1",
            &[&message_id],
        )
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn claims_older_than_the_horizon_are_pruned_by_the_running_service() {
    let vhost = vhost_with(&[USER_SERVICE_USERS]).await;
    let (settings, pool) = settings(&vhost).await;
    let horizon_hours = settings.applied_messages.horizon_hours;
    let (old, recent) = (Uuid::now_v7(), Uuid::now_v7());
    pool.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO applied_messages (consumer, message_id, applied_at) VALUES \
             ('user-service', $1, now() - make_interval(hours => $3::int + 1)), \
             ('user-service', $2, now() - make_interval(hours => $3::int - 1))",
            &[&old, &recent, &i32::try_from(horizon_hours).unwrap()],
        )
        .await
        .unwrap();

    let running = spawn(build(settings).await.unwrap());
    assert!(
        eventually(WITHIN, || async { !claimed(&pool, old).await }).await,
        "a claim past the horizon was kept"
    );
    assert!(
        claimed(&pool, recent).await,
        "a claim within the horizon was pruned"
    );
    running.stop().await;
}

/// Publishes as the service that owns `E`'s routing key on `vhost`.
struct As {
    user: String,
    broker: Arc<Broker>,
    publisher: Publisher,
}

impl As {
    fn user(user: &str, vhost: &str) -> Self {
        let (broker, publisher) = publisher_as(user, vhost, user);
        Self {
            user: user.to_owned(),
            publisher,
            broker,
        }
    }

    async fn publish<E: Event>(&self, envelope: &Envelope<E>) {
        self.publisher.publish(envelope).await.unwrap();
    }

    /// Publishes `payload` in a new envelope of this service's.
    async fn send<E: Event>(&self, payload: E) {
        self.publish(&Envelope::new(&self.user, payload)).await;
    }
}

async fn locker_of(pool: &Pool, name: &str) -> Option<String> {
    pool.get()
        .await
        .unwrap()
        .query_one("SELECT locker FROM users WHERE name = $1", &[&name])
        .await
        .unwrap()
        .get(0)
}

async fn outcome_of(pool: &Pool, request_id: Uuid) -> Option<String> {
    pool.get()
        .await
        .unwrap()
        .query_opt(
            "SELECT outcome FROM requests WHERE request_id = $1",
            &[&request_id],
        )
        .await
        .unwrap()
        .and_then(|row| row.get(0))
}

#[tokio::test]
async fn an_outcome_sent_again_after_its_claim_was_pruned_has_no_second_effect() {
    let (vhost, settings, pool) = with_both_queues().await;
    let running = spawn(build(settings.clone()).await.unwrap());
    let app = As::user("locker-app", &vhost);
    let lockers = As::user("locker-service", &vhost);
    let name = "ada".to_owned();

    app.send(RegistrationRequested {
        request_id: Uuid::now_v7(),
        name: name.clone(),
        password_hash: warren_service_kit::passwords::hash("correct horse battery").unwrap(),
    })
    .await;
    let wanted = Uuid::now_v7();
    app.send(LockerWanted {
        request_id: wanted,
        name: name.clone(),
        actor: None,
    })
    .await;
    // locker-service's answer, as it stores it and sends it again on every redelivery.
    let assigned = Envelope::new(
        "locker-service",
        LockerAssigned {
            request_id: wanted,
            user: name.clone(),
            code: "A-1".into(),
        },
    );
    assert!(eventually(WITHIN, || requested(&pool, wanted)).await);
    lockers.publish(&assigned).await;
    assert!(
        eventually(WITHIN, || async {
            locker_of(&pool, &name).await.as_deref() == Some("A-1")
        })
        .await,
        "the assignment was not applied"
    );

    // The user gives the locker back.
    let release = Uuid::now_v7();
    app.send(ReleaseWanted {
        request_id: release,
        name: name.clone(),
        actor: None,
    })
    .await;
    assert!(eventually(WITHIN, || requested(&pool, release)).await);
    lockers
        .send(LockerReleased {
            request_id: release,
            user: name.clone(),
            code: Some("A-1".into()),
        })
        .await;
    assert!(
        eventually(WITHIN, || async {
            outcome_of(&pool, release).await.as_deref() == Some("released")
        })
        .await
    );
    assert_eq!(locker_of(&pool, &name).await, None);

    // A week and more later: the claims are pruned, and the request reaches locker-service
    // again, which sends its stored outcome again.
    pool.get()
        .await
        .unwrap()
        .execute(
            "UPDATE applied_messages SET applied_at = now() - interval '8 days'",
            &[],
        )
        .await
        .unwrap();
    let pruned = exactly_once::prune(&pool, &settings.applied_messages)
        .await
        .unwrap();
    assert!(pruned >= 4, "only {pruned} claims were pruned");
    assert!(!claimed(&pool, assigned.message_id).await);
    lockers.publish(&assigned).await;

    assert!(
        eventually(WITHIN, || async {
            claimed(&pool, assigned.message_id).await
        })
        .await,
        "the copy was not handled"
    );
    assert!(
        Management::new()
            .reaches_depth(&vhost, USER_SERVICE_USERS.name, 0, WITHIN)
            .await
    );
    assert_eq!(
        locker_of(&pool, &name).await,
        None,
        "the copy of the assignment gave the released locker back"
    );
    assert_eq!(outcome_of(&pool, wanted).await.as_deref(), Some("assigned"));
    app.broker.close().await;
    lockers.broker.close().await;
    running.stop().await;
}
