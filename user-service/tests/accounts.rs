//! Accounts through the broker, as locker-app sends them: a registration stores exactly the
//! hash it carries (and something that is not an Argon2id hash is refused, never stored), a
//! promotion makes a member an operator once, and every request records who asked.
#![allow(clippy::unwrap_used)]

use deadpool_postgres::Pool;
use serde_json::json;
use user_service::startup::build;
use uuid::Uuid;
use warren_messages::events::users::{
    LockerWanted, PromotionRequested, RegistrationRequested, ReleaseWanted,
};
use warren_messages::topology::USER_SERVICE_USERS;
use warren_messages::{Envelope, Event};
use warren_service_kit::passwords;
use warren_store_users::read::{Role, account};
use warren_testkit::{Management, eventually, publisher_as, spawn, vhost_with};

mod common;

use common::{WITHIN, settings};

/// A request's outcome and actor, once decided.
async fn decided(pool: &Pool, request_id: Uuid) -> Option<(String, Option<String>)> {
    let row = pool
        .get()
        .await
        .unwrap()
        .query_opt(
            "SELECT outcome, actor FROM requests WHERE request_id = $1 AND outcome IS NOT NULL",
            &[&request_id],
        )
        .await
        .unwrap()?;
    Some((row.get(0), row.get(1)))
}

async fn wait_for(pool: &Pool, request_id: Uuid) -> (String, Option<String>) {
    assert!(
        eventually(WITHIN, || async {
            decided(pool, request_id).await.is_some()
        })
        .await,
        "request {request_id} was never decided"
    );
    decided(pool, request_id).await.unwrap()
}

#[tokio::test]
async fn a_registration_stores_its_hash_and_a_promotion_makes_a_member_an_operator_once() {
    let vhost = vhost_with(&[USER_SERVICE_USERS]).await;
    let (settings, pool) = settings(&vhost).await;
    let running = spawn(build(settings).await.unwrap());
    let (broker, app) = publisher_as("locker-app", &vhost, "test-app");

    let hash = passwords::hash("ada's password").unwrap();
    let register = Uuid::now_v7();
    app.publish(&Envelope::new(
        "locker-app",
        RegistrationRequested {
            request_id: register,
            name: "ada".into(),
            password_hash: hash.clone(),
        },
    ))
    .await
    .unwrap();
    assert_eq!(wait_for(&pool, register).await, ("registered".into(), None));
    let ada = account(&pool, "ada").await.unwrap().unwrap();
    assert_eq!(ada.password_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(ada.role, Role::Member);
    assert!(passwords::verify(
        "ada's password",
        ada.password_hash.as_deref().unwrap()
    ));

    // Each outcome of a promotion, each request naming who asked.
    let promote = |name: &str| PromotionRequested {
        request_id: Uuid::now_v7(),
        name: name.into(),
        actor: Some("boss".into()),
    };
    for (request, outcome) in [
        (promote("ada"), "promoted"),
        (promote("ada"), "already-operator"),
        (promote("nobody"), "no-such-user"),
    ] {
        let id = request.request_id;
        send(&app, request).await;
        assert_eq!(
            wait_for(&pool, id).await,
            (outcome.to_owned(), Some("boss".to_owned()))
        );
    }
    let ada = account(&pool, "ada").await.unwrap().unwrap();
    assert_eq!(ada.role, Role::Operator);
    assert_eq!(ada.password_hash.as_deref(), Some(hash.as_str()));
    assert!(account(&pool, "nobody").await.unwrap().is_none());

    // A member acting for herself, and a request from before accounts, naming nobody.
    let (mine, old) = (Uuid::now_v7(), Uuid::now_v7());
    send(
        &app,
        LockerWanted {
            request_id: mine,
            name: "bea".into(),
            actor: Some("bea".into()),
        },
    )
    .await;
    send(
        &app,
        ReleaseWanted {
            request_id: old,
            name: "ada".into(),
            actor: None,
        },
    )
    .await;
    assert_eq!(
        wait_for(&pool, mine).await,
        ("no-such-user".into(), Some("bea".into()))
    );
    assert_eq!(wait_for(&pool, old).await, ("holds-none".into(), None));

    broker.close().await;
    running.stop().await;
}

async fn send<E: Event>(app: &warren_messages::Publisher, payload: E) {
    app.publish(&Envelope::new("locker-app", payload))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_registration_without_an_argon2id_hash_is_refused_and_nothing_is_stored() {
    let vhost = vhost_with(&[USER_SERVICE_USERS]).await;
    let (settings, pool) = settings(&vhost).await;
    let running = spawn(build(settings).await.unwrap());
    let (broker, app) = publisher_as("locker-app", &vhost, "test-app");

    // A producer that sent the password itself: poison, dead-lettered, never in a row.
    let envelope = Envelope::new(
        "locker-app",
        RegistrationRequested {
            request_id: Uuid::now_v7(),
            name: "ada".into(),
            password_hash: "ada's password".into(),
        },
    );
    app.publish(&envelope).await.unwrap();
    // Read from the dead-letter queue itself (the management API's message counts may lag).
    let management = Management::new();
    let dead_letters = || async {
        management
            .post_json(
                &format!(
                    "queues/{vhost}/{}/get",
                    USER_SERVICE_USERS.dead_letter_queue()
                ),
                &json!({"count": 10, "ackmode": "ack_requeue_true", "encoding": "auto"}),
            )
            .await
    };
    assert!(
        eventually(WITHIN, || async {
            dead_letters().await.as_array().is_some_and(|messages| {
                messages.iter().any(|message| {
                    let properties = &message["properties"];
                    properties["message_id"] == json!(envelope.message_id.to_string())
                        && properties["headers"]["x-warren-reason"]
                            == "the password hash is not an Argon2id PHC string"
                })
            })
        })
        .await,
        "the registration was not dead-lettered"
    );
    assert!(account(&pool, "ada").await.unwrap().is_none());
    let client = pool.get().await.unwrap();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM requests", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);

    broker.close().await;
    running.stop().await;
}
