//! The locker app end to end through its forms, against the real broker, PostgreSQL and the
//! MongoDB-compatible server: members sign up, sign in and act for themselves; an operator adds
//! the lockers, may act for anyone, and reads the lists and the stores' check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;
use warren_messages::Envelope;
use warren_messages::events::lockers::LockerRequested;
use warren_messages::topology::{LOCKER_SERVICE_LOCKERS, USER_SERVICE_USERS};
use warren_testkit::accounts::redirected;
use warren_testkit::{eventually, publisher_as};

use common::{OPERATOR, PASSWORD, System, Visitor, form_fields, queued, sign_up, system};

/// How long a published request may take to reach its queue.
const QUEUED_WITHIN: Duration = Duration::from_secs(15);

/// The operator adds the lockers `codes`.
async fn add_lockers(operator: &Visitor, codes: impl IntoIterator<Item = String>) {
    for code in codes {
        let outcome = operator
            .outcome_of("/lockers", &[("code", &code), ("location", "Hall B")])
            .await;
        assert_eq!(outcome["outcome"], "added", "{outcome}");
    }
}

async fn assert_consistent(operator: &Visitor) -> Value {
    let report = operator.reconcile().await;
    assert_eq!(report["disagreements"], serde_json::json!([]), "{report}");
    assert_eq!(report["agree"], true, "{report}");
    // These tests' stores fit in one page of the check, so it covered every name.
    assert_eq!(report["through"], Value::Null, "{report}");
    assert_eq!(report["next"], Value::Null, "{report}");
    report
}

/// The whole app with the operator, `codes` added as lockers, and the member ada signed in.
async fn with_ada_and_lockers(codes: &[&str]) -> (System, Visitor, Visitor) {
    let system = system(true, true).await;
    let operator = system.operator().await;
    add_lockers(&operator, codes.iter().map(|code| (*code).to_owned())).await;
    let ada = system.member("ada").await;
    (system, operator, ada)
}

/// Posts `fields` to `path` as they are: no token of the visitor's is added.
async fn post_as_is(visitor: &Visitor, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    visitor
        .client
        .post(format!("{}{path}", visitor.base))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The held lockers of a page of `/api/lockers`, as (code, holder).
fn holders(lockers: &Value) -> Vec<(String, String)> {
    lockers["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|locker| {
            locker["holder"].as_str().map(|holder| {
                (
                    locker["code"].as_str().unwrap().to_owned(),
                    holder.to_owned(),
                )
            })
        })
        .collect()
}

/// The users of a page of `/api/users`, as (name, locker).
fn users(users: &Value) -> Vec<(String, Option<String>)> {
    users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| {
            (
                user["name"].as_str().unwrap().to_owned(),
                user["locker"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn user(name: &str, locker: Option<&str>) -> (String, Option<String>) {
    (name.to_owned(), locker.map(str::to_owned))
}

#[tokio::test]
async fn register_request_get_a_locker_and_release_it() {
    let (system, operator, ada) = with_ada_and_lockers(&["a-01"]).await;

    let again = sign_up(&system, "ada").await;
    assert_eq!(again["outcome"], "name-taken");
    assert_eq!(again["message"], "The name ada is taken.");

    let assigned = ada.own("/request").await;
    assert_eq!(assigned["outcome"], "assigned", "{assigned}");
    assert_eq!(assigned["locker"], "A-01");
    assert_eq!(assigned["message"], "ada got locker A-01.");
    let home = ada.page("/").await;
    assert!(
        home.contains("You hold locker <strong id=\"locker\">A-01</strong>"),
        "{home}"
    );
    assert!(home.contains("id=\"release\""));

    let twice = ada.outcome_of("/request", &[("name", "ada")]).await;
    assert_eq!(twice["outcome"], "already-holds");
    assert_eq!(twice["message"], "ada already holds locker A-01.");
    // An operator may ask for anyone, even someone who is not a user.
    let nobody = operator.outcome_of("/request", &[("name", "bob")]).await;
    assert_eq!(nobody["outcome"], "no-such-user");

    let released = ada.own("/release").await;
    assert_eq!(released["outcome"], "released", "{released}");
    assert_eq!(released["message"], "ada released locker A-01.");
    let lockers = operator.get_json("/api/lockers").await;
    assert!(holders(&lockers).is_empty(), "{lockers}");
    assert_eq!(
        users(&operator.get_json("/api/users").await),
        [user("ada", None), user(OPERATOR, None)]
    );
    let none = ada.outcome_of("/release", &[("name", "ada")]).await;
    assert_eq!(none["outcome"], "holds-none");
    assert_consistent(&operator).await;
    system.stop().await;
}

#[tokio::test]
async fn fifty_users_requesting_twenty_lockers_at_once_get_twenty() {
    let system = system(true, true).await;
    let operator = system.operator().await;
    add_lockers(&operator, (1..=20).map(|n| format!("L-{n:02}"))).await;
    let names: Vec<String> = (1..=50).map(|n| format!("user-{n:02}")).collect();
    // Each signs up and in (a few at a time: every sign-up hashes a password).
    let members: Vec<Visitor> = futures::stream::iter(names.iter().map(|name| system.member(name)))
        .buffered(5)
        .collect()
        .await;
    // Everyone asks for themself at once.
    let pages = futures::future::join_all(
        members
            .iter()
            .map(|member| async { member.act("/request", &[("name", &member.name)]).await }),
    )
    .await;
    let outcomes = futures::future::join_all(
        members
            .iter()
            .zip(&pages)
            .map(|(member, page)| member.outcome(page)),
    )
    .await;
    let assigned: Vec<&Value> = outcomes
        .iter()
        .filter(|outcome| outcome["outcome"] == "assigned")
        .collect();
    let refused = outcomes
        .iter()
        .filter(|outcome| outcome["outcome"] == "none-free")
        .count();
    assert_eq!(assigned.len(), 20, "{outcomes:?}");
    assert_eq!(refused, 30, "{outcomes:?}");
    let given: HashSet<&str> = assigned
        .iter()
        .map(|outcome| outcome["locker"].as_str().unwrap())
        .collect();
    assert_eq!(given.len(), 20, "a locker was given twice");

    let held = holders(&operator.get_json("/api/lockers").await);
    assert_eq!(held.len(), 20);
    let holders: HashSet<&str> = held.iter().map(|(_, holder)| holder.as_str()).collect();
    assert_eq!(holders.len(), 20, "a user holds two lockers");
    let report = assert_consistent(&operator).await;
    assert_eq!(report["held"], 20);
    // The fifty and the operator.
    assert_eq!(report["users"], 51);
    system.stop().await;
}

#[tokio::test]
async fn the_same_request_delivered_twice_gives_one_assignment() {
    let (system, operator, ada) = with_ada_and_lockers(&["D-1", "D-2"]).await;

    // The request as user-service forwards it, published twice (a redelivery, or a crash after
    // the publish and before the outbox row was deleted).
    let (broker, publisher) = publisher_as("user-service", &system.vhost, "test-duplicates");
    let request = Envelope::new(
        "user-service",
        LockerRequested {
            request_id: Uuid::now_v7(),
            user: "ada".into(),
        },
    );
    publisher.publish(&request).await.unwrap();
    publisher.publish(&request).await.unwrap();
    // And a second request of ada's through her form, sent twice by a double click: one
    // request, one status page.
    let form = form_fields(&ada.page("/").await, "/request");
    let first = redirected(ada.send("/request", &form).await, "/request").await;
    let second = redirected(ada.send("/request", &form).await, "/request").await;
    assert_eq!(first, second);
    ada.outcome(&first).await;

    let settled = eventually(Duration::from_secs(30), || async {
        let lockers = operator.get_json("/api/lockers").await;
        let users = users(&operator.get_json("/api/users").await);
        holders(&lockers).len() == 1 && users.contains(&user("ada", Some("D-1")))
    })
    .await;
    assert!(settled, "{}", operator.get_json("/api/lockers").await);
    for queue in [USER_SERVICE_USERS.name, LOCKER_SERVICE_LOCKERS.name] {
        let dead = queued(&system.vhost, &format!("{queue}.dead")).await;
        assert_eq!(
            dead,
            Vec::<String>::new(),
            "{queue} dead-lettered something"
        );
    }
    assert_eq!(holders(&operator.get_json("/api/lockers").await).len(), 1);
    assert_consistent(&operator).await;
    broker.close().await;
    system.stop().await;
}

#[tokio::test]
async fn deleting_a_user_who_holds_a_locker_frees_it() {
    let (system, operator, ada) = with_ada_and_lockers(&["X-1"]).await;
    let assigned = ada.own("/request").await;
    assert_eq!(assigned["locker"], "X-1");

    let deleted = ada.own("/delete").await;
    assert_eq!(deleted["outcome"], "deleted", "{deleted}");
    assert_eq!(deleted["message"], "ada was deleted.");
    assert_eq!(
        users(&operator.get_json("/api/users").await),
        [user(OPERATOR, None)]
    );
    assert!(holders(&operator.get_json("/api/lockers").await).is_empty());
    // Her session signs nobody in any more: the account is read at every request.
    let after = ada.post("/delete", &[("name", "ada")]).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let gone = operator.outcome_of("/delete", &[("name", "ada")]).await;
    assert_eq!(gone["outcome"], "no-such-user");

    let bob = system.member("bob").await;
    let reused = bob.own("/request").await;
    assert_eq!(reused["locker"], "X-1", "the freed locker is given again");
    assert_consistent(&operator).await;
    system.stop().await;
}

#[tokio::test]
async fn requests_made_while_locker_service_is_down_wait_and_are_served_after_it_restarts() {
    let mut system = system(true, false).await;
    let operator = system.operator().await;
    let ada = system.member("ada").await;
    let bob = system.member("bob").await;
    let add = operator
        .act("/lockers", &[("code", "W-1"), ("location", "Hall A")])
        .await;
    let ada_asked = ada.act("/request", &[("name", "ada")]).await;
    let bob_asked = bob.act("/request", &[("name", "bob")]).await;

    // user-service has forwarded them (it recorded both and its outbox is empty: each row
    // goes only once the broker confirmed it); they wait in locker-service's queue, shown
    // pending.
    let users = warren_service_kit::postgres::pool(&system.users_db.as_admin()).unwrap();
    let forwarded = eventually(QUEUED_WITHIN, || async {
        let client = users.get().await.unwrap();
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM outbox) = 0 AND (SELECT count(*) FROM requests \
                 WHERE kind = 'request' AND name IN ('ada', 'bob')) = 2",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, bool>(0)
    })
    .await;
    assert!(forwarded, "user-service did not forward the requests");
    let waiting = queued(&system.vhost, LOCKER_SERVICE_LOCKERS.name).await;
    assert_eq!(waiting.len(), 3, "{waiting:#?}");
    for page in [&add, &ada_asked, &bob_asked] {
        let status = operator.status(page).await;
        assert_eq!(status["pending"], true, "{status}");
        assert!(
            status["message"].as_str().unwrap().starts_with("Pending"),
            "{status}"
        );
    }
    let html = ada.page(&ada_asked).await;
    assert!(html.contains("data-pending=\"true\""), "{html}");

    system.start_locker_service().await;
    assert_eq!(operator.outcome(&add).await["outcome"], "added");
    assert_eq!(ada.outcome(&ada_asked).await["outcome"], "assigned");
    assert_eq!(bob.outcome(&bob_asked).await["outcome"], "none-free");
    assert_consistent(&operator).await;
    system.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_publishes_nothing() {
    let mut system: System = system(true, false).await;
    let operator = system.operator().await;
    let ada = system.member("ada").await;
    // Now neither consumer runs, so anything published would wait in their queues.
    system.stop_user_service().await;
    // Sign-up is open to someone not signed in.
    let visitor = system.stranger().await;
    let long = "n".repeat(10_000);
    let cases: [(&str, &str, StatusCode, &str); 5] = [
        (
            "/register",
            "",
            StatusCode::BAD_REQUEST,
            "a user name is required",
        ),
        (
            "/register",
            "a\u{7}b",
            StatusCode::BAD_REQUEST,
            "may hold letters, digits",
        ),
        (
            "/register",
            "{\"$gt\": \"\"}",
            StatusCode::BAD_REQUEST,
            "may hold letters",
        ),
        (
            "/request",
            &long,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
        (
            "/register",
            &long[..40],
            StatusCode::BAD_REQUEST,
            "at most 32 characters",
        ),
    ];
    for (path, name, status, message) in cases {
        let asker = if path == "/register" { &visitor } else { &ada };
        let response = asker
            .post(path, &[("name", name), ("password", PASSWORD)])
            .await;
        assert_eq!(response.status(), status, "{name:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(message), "{name:?}: {body}");
    }
    let bad_code = operator
        .post("/lockers", &[("code", "$where"), ("location", "x")])
        .await;
    assert_eq!(bad_code.status(), StatusCode::BAD_REQUEST);
    let bad_location = operator
        .post("/lockers", &[("code", "B-1"), ("location", "a\u{0}b")])
        .await;
    assert_eq!(bad_location.status(), StatusCode::BAD_REQUEST);

    let forged = post_as_is(
        &visitor,
        "/register",
        &[
            ("name", "ada"),
            ("password", PASSWORD),
            ("csrf", &"0".repeat(64)),
        ],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let stranger = system.stranger().await; // another session's cookie with this token
    let stolen = post_as_is(
        &stranger,
        "/register",
        &[
            ("name", "ada"),
            ("password", PASSWORD),
            ("csrf", visitor.token.as_str()),
        ],
    )
    .await;
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN);
    let altered = post_as_is(
        &visitor,
        "/register",
        &[
            ("name", "ada"),
            ("password", PASSWORD),
            ("csrf", visitor.token.as_str()),
            ("attempt", "01890a5d-ac96-774b-bcce-b302099a8057.00"),
        ],
    )
    .await;
    assert_eq!(altered.status(), StatusCode::FORBIDDEN);
    let made_up = visitor
        .client
        .get(format!(
            "{}/api/requests/{}?sig=00",
            visitor.base,
            Uuid::now_v7()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(made_up.status(), StatusCode::NOT_FOUND);

    // Every refusal was answered after its check, so anything published would be queued now.
    for queue in [USER_SERVICE_USERS.name, LOCKER_SERVICE_LOCKERS.name] {
        assert_eq!(
            queued(&system.vhost, queue).await,
            Vec::<String>::new(),
            "{queue}"
        );
    }
    // A valid request from the same visitor does arrive (it is confirmed before the answer).
    visitor
        .act("/register", &[("name", "$ne"), ("password", PASSWORD)])
        .await;
    let arrived = queued(&system.vhost, USER_SERVICE_USERS.name).await;
    assert_eq!(arrived.len(), 1, "{arrived:#?}");
    assert!(arrived[0].contains("\"name\":\"$ne\""), "{arrived:#?}");
    system.stop().await;
}

#[tokio::test]
async fn an_operator_string_is_stored_literally_never_interpreted() {
    let (system, operator, ada) = with_ada_and_lockers(&["M-1", "M-2"]).await;
    assert_eq!(ada.own("/request").await["locker"], "M-1");
    // "$ne" as a holder would match every other holder if it were read as an operator.
    let ne = system.member("$ne").await;
    let outcome = ne.own("/request").await;
    assert_eq!(outcome["outcome"], "assigned", "{outcome}");
    assert_eq!(outcome["locker"], "M-2");
    let names: Vec<String> = users(&operator.get_json("/api/users").await)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["$ne", "ada", OPERATOR]);
    let released = ne.own("/release").await;
    assert_eq!(released["locker"], "M-2");
    let held = holders(&operator.get_json("/api/lockers").await);
    assert_eq!(held, [("M-1".to_owned(), "ada".to_owned())]);
    assert_consistent(&operator).await;
    system.stop().await;
}

#[tokio::test]
async fn reconcile_reports_each_disagreement_between_the_stores() {
    let (system, operator, ada) = with_ada_and_lockers(&["R-1", "R-2"]).await;
    ada.own("/request").await;
    assert_consistent(&operator).await;

    // Damage the lockers' store behind the services' backs: R-1 loses its holder and R-2 gets
    // one who does not exist.
    let database = warren_service_kit::mongo::database(&system.mongo, "test")
        .await
        .unwrap();
    let lockers = database.collection::<mongodb::bson::Document>("lockers");
    for (code, change) in [
        ("R-1", mongodb::bson::doc! { "$unset": { "holder": "" } }),
        ("R-2", mongodb::bson::doc! { "$set": { "holder": "ghost" } }),
    ] {
        lockers
            .update_one(mongodb::bson::doc! { "_id": code }, change)
            .await
            .unwrap();
    }
    let report = operator.reconcile().await;
    assert_eq!(
        report["disagreements"],
        serde_json::json!([
            "locker R-2 is held by \"ghost\", who is not a user",
            "\"ada\"'s row says locker R-1, which is held by None",
        ]),
        "{report}"
    );
    system.stop().await;
}
