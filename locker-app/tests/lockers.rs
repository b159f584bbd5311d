//! The locker app end to end through its forms, against the real broker, PostgreSQL and the
//! MongoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;
use warren_messages::Envelope;
use warren_messages::events::lockers::LockerRequested;
use warren_messages::topology::{LOCKER_SERVICE_LOCKERS, USER_SERVICE_USERS};
use warren_testkit::web::page;
use warren_testkit::{Management, eventually, publisher_as};

use common::{PASSWORD, System, Visitor, system};

/// How long a published request may take to reach its queue.
const QUEUED_WITHIN: Duration = Duration::from_secs(15);

async fn add_lockers(visitor: &Visitor, codes: impl IntoIterator<Item = String>) {
    for code in codes {
        let outcome = visitor
            .outcome_of("/lockers", &[("code", &code), ("location", "Hall B")])
            .await;
        assert_eq!(outcome["outcome"], "added", "{outcome}");
    }
}

async fn register(visitor: &Visitor, name: &str) {
    let outcome = visitor
        .outcome_of("/register", &[("name", name), ("password", PASSWORD)])
        .await;
    assert_eq!(outcome["outcome"], "registered", "{outcome}");
}

async fn assert_consistent(visitor: &Visitor) -> Value {
    let report = visitor.reconcile().await;
    assert_eq!(report["disagreements"], serde_json::json!([]), "{report}");
    assert_eq!(report["agree"], true, "{report}");
    // These tests' stores fit in one page of the check, so it covered every name.
    assert_eq!(report["through"], Value::Null, "{report}");
    assert_eq!(report["next"], Value::Null, "{report}");
    report
}

/// The whole app with `codes` added as lockers and ada registered.
async fn with_ada_and_lockers(codes: &[&str]) -> (System, Visitor) {
    let system = system(true, true).await;
    let visitor = system.visitor().await;
    add_lockers(&visitor, codes.iter().map(|code| (*code).to_owned())).await;
    register(&visitor, "ada").await;
    (system, visitor)
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

#[tokio::test]
async fn register_request_get_a_locker_and_release_it() {
    let (system, visitor) = with_ada_and_lockers(&["a-01"]).await;

    let again = visitor
        .outcome_of("/register", &[("name", "ada"), ("password", PASSWORD)])
        .await;
    assert_eq!(again["outcome"], "name-taken");
    assert_eq!(again["message"], "The name ada is taken.");

    let assigned = visitor.outcome_of("/request", &[("name", "ada")]).await;
    assert_eq!(assigned["outcome"], "assigned", "{assigned}");
    assert_eq!(assigned["locker"], "A-01");
    assert_eq!(assigned["message"], "ada got locker A-01.");
    let home = page(&visitor.client, &format!("{}/?name=ada", visitor.base)).await;
    assert!(
        home.contains("holds locker <strong>A-01</strong>"),
        "{home}"
    );
    assert!(home.contains("id=\"release\""));

    let twice = visitor.outcome_of("/request", &[("name", "ada")]).await;
    assert_eq!(twice["outcome"], "already-holds");
    assert_eq!(twice["message"], "ada already holds locker A-01.");
    let nobody = visitor.outcome_of("/request", &[("name", "bob")]).await;
    assert_eq!(nobody["outcome"], "no-such-user");

    let released = visitor.outcome_of("/release", &[("name", "ada")]).await;
    assert_eq!(released["outcome"], "released", "{released}");
    assert_eq!(released["message"], "ada released locker A-01.");
    let lockers = visitor.get_json("/api/lockers").await;
    assert!(holders(&lockers).is_empty(), "{lockers}");
    let users = visitor.get_json("/api/users").await;
    assert_eq!(users["items"][0]["name"], "ada");
    assert_eq!(users["items"][0]["locker"], Value::Null);
    let none = visitor.outcome_of("/release", &[("name", "ada")]).await;
    assert_eq!(none["outcome"], "holds-none");
    assert_consistent(&visitor).await;
    system.stop().await;
}

#[tokio::test]
async fn fifty_users_requesting_twenty_lockers_at_once_get_twenty() {
    let system = system(true, true).await;
    let visitor = system.visitor().await;
    add_lockers(&visitor, (1..=20).map(|n| format!("L-{n:02}"))).await;
    let names: Vec<String> = (1..=50).map(|n| format!("user-{n:02}")).collect();
    for name in &names {
        register(&visitor, name).await;
    }
    let pages = futures::future::join_all(
        names
            .iter()
            .map(|name| async { visitor.act("/request", &[("name", name)]).await }),
    )
    .await;
    let outcomes = futures::future::join_all(pages.iter().map(|page| visitor.outcome(page))).await;
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

    let held = holders(&visitor.get_json("/api/lockers").await);
    assert_eq!(held.len(), 20);
    let holders: HashSet<&str> = held.iter().map(|(_, holder)| holder.as_str()).collect();
    assert_eq!(holders.len(), 20, "a user holds two lockers");
    let report = assert_consistent(&visitor).await;
    assert_eq!(report["held"], 20);
    assert_eq!(report["users"], 50);
    system.stop().await;
}

#[tokio::test]
async fn the_same_request_delivered_twice_gives_one_assignment() {
    let (system, visitor) = with_ada_and_lockers(&["D-1", "D-2"]).await;

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
    // And a second request of the same user through the form, sent twice by a double click.
    let first = visitor.act("/request", &[("name", "ada")]).await;
    let second = visitor.act("/request", &[("name", "ada")]).await;
    visitor.outcome(&first).await;
    visitor.outcome(&second).await;

    let settled = eventually(Duration::from_secs(30), || async {
        let lockers = visitor.get_json("/api/lockers").await;
        let users = visitor.get_json("/api/users").await;
        holders(&lockers).len() == 1 && users["items"][0]["locker"] == "D-1"
    })
    .await;
    assert!(settled, "{}", visitor.get_json("/api/lockers").await);
    let management = Management::new();
    for queue in [USER_SERVICE_USERS.name, LOCKER_SERVICE_LOCKERS.name] {
        let dead = management
            .queue_depth(&system.vhost, &format!("{queue}.dead"))
            .await;
        assert_eq!(dead, 0, "{queue} dead-lettered something");
    }
    assert_eq!(holders(&visitor.get_json("/api/lockers").await).len(), 1);
    assert_consistent(&visitor).await;
    broker.close().await;
    system.stop().await;
}

#[tokio::test]
async fn deleting_a_user_who_holds_a_locker_frees_it() {
    let (system, visitor) = with_ada_and_lockers(&["X-1"]).await;
    let assigned = visitor.outcome_of("/request", &[("name", "ada")]).await;
    assert_eq!(assigned["locker"], "X-1");

    let deleted = visitor.outcome_of("/delete", &[("name", "ada")]).await;
    assert_eq!(deleted["outcome"], "deleted", "{deleted}");
    assert_eq!(deleted["message"], "ada was deleted.");
    assert_eq!(
        visitor.get_json("/api/users").await["items"],
        serde_json::json!([])
    );
    assert!(holders(&visitor.get_json("/api/lockers").await).is_empty());
    let gone = visitor.outcome_of("/delete", &[("name", "ada")]).await;
    assert_eq!(gone["outcome"], "no-such-user");

    register(&visitor, "bob").await;
    let reused = visitor.outcome_of("/request", &[("name", "bob")]).await;
    assert_eq!(reused["locker"], "X-1", "the freed locker is given again");
    assert_consistent(&visitor).await;
    system.stop().await;
}

#[tokio::test]
async fn requests_made_while_locker_service_is_down_wait_and_are_served_after_it_restarts() {
    let mut system = system(true, false).await;
    let visitor = system.visitor().await;
    register(&visitor, "ada").await;
    register(&visitor, "bob").await;
    let add = visitor
        .act("/lockers", &[("code", "W-1"), ("location", "Hall A")])
        .await;
    let ada = visitor.act("/request", &[("name", "ada")]).await;
    let bob = visitor.act("/request", &[("name", "bob")]).await;

    // user-service has forwarded them; they wait in locker-service's queue, shown pending.
    let management = Management::new();
    let queued = management
        .reaches_depth(&system.vhost, LOCKER_SERVICE_LOCKERS.name, 3, QUEUED_WITHIN)
        .await;
    assert!(queued, "the requests did not reach locker-service's queue");
    for page in [&add, &ada, &bob] {
        let status = visitor.status(page).await;
        assert_eq!(status["pending"], true, "{status}");
        assert!(
            status["message"].as_str().unwrap().starts_with("Pending"),
            "{status}"
        );
    }
    let html = page(&visitor.client, &format!("{}{ada}", visitor.base)).await;
    assert!(html.contains("data-pending=\"true\""), "{html}");

    system.start_locker_service().await;
    assert_eq!(visitor.outcome(&add).await["outcome"], "added");
    assert_eq!(visitor.outcome(&ada).await["outcome"], "assigned");
    assert_eq!(visitor.outcome(&bob).await["outcome"], "none-free");
    assert_consistent(&visitor).await;
    system.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_publishes_nothing() {
    // Neither consumer runs, so anything published would wait in their queues.
    let system: System = system(false, false).await;
    let visitor = system.visitor().await;
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
        let response = visitor.post(path, &[("name", name)]).await;
        assert_eq!(response.status(), status, "{name:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(message), "{name:?}: {body}");
    }
    let bad_code = visitor
        .post("/lockers", &[("code", "$where"), ("location", "x")])
        .await;
    assert_eq!(bad_code.status(), StatusCode::BAD_REQUEST);
    let bad_location = visitor
        .post("/lockers", &[("code", "B-1"), ("location", "a\u{0}b")])
        .await;
    assert_eq!(bad_location.status(), StatusCode::BAD_REQUEST);

    let forged = post_as_is(
        &visitor,
        "/register",
        &[("name", "ada"), ("csrf", &"0".repeat(64))],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let stranger = system.visitor().await; // another session's cookie with this token
    let stolen = post_as_is(
        &stranger,
        "/register",
        &[("name", "ada"), ("csrf", visitor.token.as_str())],
    )
    .await;
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN);
    let altered = post_as_is(
        &visitor,
        "/register",
        &[
            ("name", "ada"),
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

    let management = Management::new();
    for queue in [USER_SERVICE_USERS.name, LOCKER_SERVICE_LOCKERS.name] {
        assert_eq!(
            management.queue_depth(&system.vhost, queue).await,
            0,
            "{queue}"
        );
    }
    // A valid request from the same visitor does arrive.
    visitor
        .act("/register", &[("name", "$ne"), ("password", PASSWORD)])
        .await;
    let arrived = management
        .reaches_depth(&system.vhost, USER_SERVICE_USERS.name, 1, QUEUED_WITHIN)
        .await;
    assert!(arrived, "the valid request did not reach the queue");
    system.stop().await;
}

#[tokio::test]
async fn an_operator_string_is_stored_literally_never_interpreted() {
    let (system, visitor) = with_ada_and_lockers(&["M-1", "M-2"]).await;
    assert_eq!(
        visitor.outcome_of("/request", &[("name", "ada")]).await["locker"],
        "M-1"
    );
    // "$ne" as a holder would match every other holder if it were read as an operator.
    register(&visitor, "$ne").await;
    let outcome = visitor.outcome_of("/request", &[("name", "$ne")]).await;
    assert_eq!(outcome["outcome"], "assigned", "{outcome}");
    assert_eq!(outcome["locker"], "M-2");
    let users = visitor.get_json("/api/users").await;
    let names: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["$ne", "ada"]);
    let released = visitor.outcome_of("/release", &[("name", "$ne")]).await;
    assert_eq!(released["locker"], "M-2");
    let held = holders(&visitor.get_json("/api/lockers").await);
    assert_eq!(held, [("M-1".to_owned(), "ada".to_owned())]);
    assert_consistent(&visitor).await;
    system.stop().await;
}

#[tokio::test]
async fn reconcile_reports_each_disagreement_between_the_stores() {
    let (system, visitor) = with_ada_and_lockers(&["R-1", "R-2"]).await;
    visitor.outcome_of("/request", &[("name", "ada")]).await;
    assert_consistent(&visitor).await;

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
    let report = visitor.reconcile().await;
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
