//! locker-service's consumer run as two instances against one MongoDB database: the same request
//! handed to both at once is decided once, and what is stored, published and done to the
//! lockers agree; a claim left by a crashed instance does not leave its request stuck; a
//! retirement and an assignment racing for one locker end with exactly one of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use locker_service::claims::{self, Claim};
use locker_service::consumers::lockers::{Incoming, LockerDesk};
use locker_service::startup::SERVICE;
use locker_service::store::{self, Locker};
use mongodb::bson;
use serde_json::{Value, json};
use warren_messages::events::lockers::{
    LockerAddRequested, LockerReleaseRequested, LockerRequested, LockerRetireRequested,
};
use warren_messages::topology::USER_SERVICE_USERS;
use warren_messages::{Broker, Envelope, Event, Handler, Outcome, Publisher};
use warren_service_kit::mongo::{self, MongoSettings};
use warren_testkit::{Management, broker_settings, eventually, mongo_database, vhost_with};

/// One locker-service instance: its own MongoDB client and broker connection.
async fn instance(mongo: &MongoSettings, vhost: &str) -> LockerDesk {
    let database = mongo::database(mongo, SERVICE).await.unwrap();
    let broker = Broker::new(broker_settings(SERVICE, vhost), "test-locker-instance").unwrap();
    LockerDesk::new(database, Publisher::new(Arc::new(broker)))
}

/// A fresh locker database with its indexes, a vhost where the outcomes are routed to
/// user-service's queue, and a client to look at the lockers with.
async fn setting() -> (MongoSettings, mongodb::Database, String) {
    let settings = mongo_database().await;
    let database = mongo::database(&settings, SERVICE).await.unwrap();
    store::prepare(&database).await.unwrap();
    let vhost = vhost_with(&[USER_SERVICE_USERS]).await;
    (settings, database, vhost)
}

/// A request of `user`'s (a locker or a release) with a fresh id, made through its JSON form, as
/// this crate reaches UUIDs only through bson.
fn request_of<T: Event>(user: &str) -> Envelope<T> {
    let payload = serde_json::from_value(json!({
        "request_id": bson::Uuid::new().to_string(),
        "user": user,
    }))
    .unwrap();
    Envelope::new("user-service", payload)
}

fn locker_request(user: &str) -> Envelope<LockerRequested> {
    request_of(user)
}

fn release_request(user: &str) -> Envelope<LockerReleaseRequested> {
    request_of(user)
}

async fn add_locker(database: &mongodb::Database, code: &str) {
    store::lockers(database)
        .insert_one(Locker {
            code: code.to_owned(),
            location: "hall".into(),
            added_at: bson::DateTime::now(),
            added_by: "test".into(),
            holder: None,
            assigned_by: None,
            held_since: None,
            take_id: None,
            released_by: None,
            retired_by: None,
            retired_at: None,
        })
        .await
        .unwrap();
}

/// Hands `message` to `desk` as a batch of one, as the consumer runner would, and again while
/// the handler asks to retry (another instance is deciding it), until it is done.
async fn deliver(desk: &LockerDesk, message: Incoming) {
    let batch = [message];
    let batch = &batch;
    let done = eventually(Duration::from_secs(20), || async move {
        matches!(desk.handle(batch).await.as_slice(), [Outcome::Done])
    })
    .await;
    assert!(done, "the request was not done within 20 s");
}

/// Every message in user-service's queue of `vhost`, taken off it.
async fn published(vhost: &str, expected: usize) -> Vec<Value> {
    let management = Management::new();
    let queue = USER_SERVICE_USERS.name;
    assert!(
        management
            .reaches_depth(vhost, queue, expected as u64, Duration::from_secs(30))
            .await,
        "user-service's queue never held {expected} outcomes"
    );
    let messages = management
        .post_json(
            &format!("queues/{vhost}/{queue}/get"),
            &json!({ "count": expected, "ackmode": "ack_requeue_false", "encoding": "auto" }),
        )
        .await;
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|message| serde_json::from_str(message["payload"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_request_on_two_instances_at_once_has_one_outcome_that_the_lockers_agree_with() {
    let (mongo, database, vhost) = setting().await;
    let first = Arc::new(instance(&mongo, &vhost).await);
    let second = Arc::new(instance(&mongo, &vhost).await);

    // Each round adds one locker, so it starts with exactly one free, and two users want it;
    // each user's request goes to both instances at the same moment.
    const ROUNDS: usize = 40;
    let mut requests = Vec::new();
    for round in 0..ROUNDS {
        add_locker(&database, &format!("L{round:03}")).await;
        let mut running = tokio::task::JoinSet::new();
        for user in ["a", "b"] {
            let request = locker_request(&format!("user-{round}-{user}"));
            requests.push(request.payload.clone());
            for desk in [first.clone(), second.clone()] {
                let message = Incoming::Request(request.clone());
                running.spawn(async move { deliver(&desk, message).await });
            }
        }
        while let Some(joined) = running.join_next().await {
            joined.unwrap();
        }
    }

    let lockers = store::all_lockers(&database).await.unwrap();
    let mut mistakes = Vec::new();
    let mut assigned = 0;
    for request in &requests {
        let id = request.request_id.to_string();
        let stored = store::request(&database, &id).await.unwrap().unwrap();
        let taken: Vec<&Locker> = lockers
            .iter()
            .filter(|locker| locker.assigned_by.as_deref() == Some(id.as_str()))
            .collect();
        match stored.outcome.as_str() {
            "assigned" => {
                assigned += 1;
                let holds = taken.len() == 1
                    && taken[0].holder.as_deref() == Some(request.user.as_str())
                    && stored.locker.as_deref() == Some(taken[0].code.as_str());
                if !holds {
                    mistakes.push(format!(
                        "{id}: assigned {:?}, lockers {taken:?}",
                        stored.locker
                    ));
                }
            }
            "none-free" if !taken.is_empty() => {
                mistakes.push(format!("{id}: none-free stored, yet it holds {taken:?}"));
            }
            "none-free" => {}
            other => mistakes.push(format!("{id}: unexpected outcome {other}")),
        }
    }
    assert!(
        mistakes.is_empty(),
        "{} of {} requests disagree with the lockers: {:#?}",
        mistakes.len(),
        requests.len(),
        &mistakes[..mistakes.len().min(5)]
    );
    assert_eq!(assigned, ROUNDS, "every round gives its one locker away");

    // Both instances published each request's outcome: the very same event.
    let events = published(&vhost, requests.len() * 2).await;
    let mut by_request: HashMap<String, Vec<&Value>> = HashMap::new();
    for event in &events {
        by_request
            .entry(event["payload"]["request_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(event);
    }
    for request in &requests {
        let id = request.request_id.to_string();
        let stored = store::request(&database, &id).await.unwrap().unwrap();
        let stored: Value = serde_json::from_str(stored.event.as_deref().unwrap()).unwrap();
        let seen = &by_request[&id];
        assert!(
            seen.iter().all(|event| **event == stored),
            "{id}: published {seen:#?}, stored {stored:#}"
        );
    }
}

#[tokio::test]
async fn a_request_claimed_by_a_live_instance_waits_for_it_and_a_stale_claim_is_taken_over() {
    let (mongo, database, vhost) = setting().await;
    add_locker(&database, "L001").await;
    let desk = instance(&mongo, &vhost)
        .await
        .with_claim_lease(Duration::from_secs(2));
    let request = locker_request("ada");
    let id = request.payload.request_id.to_string();
    // Another instance claimed the request and crashed before deciding it.
    claims::claims(&database)
        .insert_one(Claim {
            request_id: id.clone(),
            owner: "crashed-instance".into(),
            claimed_at: bson::DateTime::now(),
        })
        .await
        .unwrap();

    let batch = [Incoming::Request(request)];
    let outcomes = desk.handle(&batch).await;
    assert!(
        matches!(outcomes.as_slice(), [Outcome::RetryLater(_)]),
        "a fresh claim of another instance is left to it: {outcomes:?}"
    );
    assert!(store::request(&database, &id).await.unwrap().is_none());
    assert!(
        store::all_lockers(&database).await.unwrap()[0]
            .holder
            .is_none()
    );

    // Once the claim is older than the lease, the next delivery takes it over and decides.
    deliver(&desk, batch[0].clone()).await;
    let stored = store::request(&database, &id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, "assigned");
    let lockers = store::all_lockers(&database).await.unwrap();
    assert_eq!(lockers[0].holder.as_deref(), Some("ada"));
    assert_eq!(lockers[0].assigned_by.as_deref(), Some(id.as_str()));
    // The decided request's claim is gone.
    assert!(
        claims::claims(&database)
            .find_one(bson::doc! { "_id": &id })
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(published(&vhost, 1).await[0]["type"], "locker.assigned");
}

#[tokio::test]
async fn a_locker_taken_late_by_a_request_that_stored_none_free_is_freed_on_its_next_delivery() {
    let (mongo, database, vhost) = setting().await;
    let desk = instance(&mongo, &vhost).await;
    let request = locker_request("grace");
    let id = request.payload.request_id.to_string();
    // The request was decided none-free; then an instance whose claim had been taken over
    // (slow, not dead) took a locker freed in the meantime, and crashed before settling.
    deliver(&desk, Incoming::Request(request.clone())).await;
    assert_eq!(
        store::request(&database, &id)
            .await
            .unwrap()
            .unwrap()
            .outcome,
        "none-free"
    );
    add_locker(&database, "L001").await;
    store::lockers(&database)
        .update_one(
            bson::doc! { "_id": "L001" },
            bson::doc! { "$set": { "holder": "grace", "assigned_by": &id } },
        )
        .await
        .unwrap();

    // The crashed instance's delivery comes back.
    deliver(&desk, Incoming::Request(request)).await;
    let locker = &store::all_lockers(&database).await.unwrap()[0];
    assert!(
        locker.holder.is_none() && locker.assigned_by.is_none(),
        "{locker:?}"
    );
    let events = published(&vhost, 2).await;
    assert_eq!(events[0], events[1], "the same outcome, published again");
    assert_eq!(events[0]["payload"]["reason"], "none-free");
}

#[tokio::test]
async fn a_locker_taken_late_by_a_request_stored_as_assigned_is_freed_on_its_next_delivery() {
    let (mongo, database, vhost) = setting().await;
    let desk = instance(&mongo, &vhost).await;
    add_locker(&database, "L001").await;
    add_locker(&database, "L002").await;
    let request = locker_request("hedy");
    let id = request.payload.request_id.to_string();
    deliver(&desk, Incoming::Request(request.clone())).await;
    deliver(&desk, Incoming::Release(release_request("hedy"))).await;
    // An instance whose claim on the request was taken over (slow, not dead) runs its take only
    // now that hedy released the locker the request got, and takes that same locker again.
    store::lockers(&database)
        .update_one(
            bson::doc! { "_id": "L001" },
            bson::doc! { "$set": { "holder": "hedy", "assigned_by": &id, "take_id": "late" } },
        )
        .await
        .unwrap();

    // The request is delivered again: the stored outcome stands, and the late take is undone.
    deliver(&desk, Incoming::Request(request)).await;
    let lockers = store::all_lockers(&database).await.unwrap();
    assert!(
        lockers.iter().all(|locker| locker.holder.is_none()),
        "{lockers:?}"
    );
    let events = published(&vhost, 3).await;
    assert_eq!(events[0]["type"], "locker.assigned");
    assert_eq!(events[0], events[2], "the same outcome, published again");
}

/// An operator's retirement of `code`, as locker-app sends it.
fn retirement(code: &str, actor: &str) -> Envelope<LockerRetireRequested> {
    Envelope::new(
        "locker-app",
        LockerRetireRequested {
            request_id: uuid::Uuid::now_v7(),
            code: code.to_owned(),
            actor: Some(actor.to_owned()),
        },
    )
}

fn addition(code: &str, actor: &str) -> Envelope<LockerAddRequested> {
    Envelope::new(
        "locker-app",
        LockerAddRequested {
            request_id: uuid::Uuid::now_v7(),
            code: code.to_owned(),
            location: "Hall R".into(),
            actor: Some(actor.to_owned()),
        },
    )
}

/// The stored outcome of `id`, its locker, the user it names and who asked.
async fn stored(database: &mongodb::Database, id: uuid::Uuid) -> [Option<String>; 4] {
    let request = store::request(database, &id.to_string())
        .await
        .unwrap()
        .expect("the request is decided");
    assert_eq!(request.event, None, "adds and retirements publish nothing");
    [
        Some(request.outcome),
        request.locker,
        request.user,
        request.actor,
    ]
}

fn words(words: [Option<&str>; 4]) -> [Option<String>; 4] {
    words.map(|word| word.map(str::to_owned))
}

#[tokio::test]
async fn retirements_are_decided_once_with_who_asked_and_a_held_locker_is_never_retired() {
    let (mongo, database, vhost) = setting().await;
    let desk = instance(&mongo, &vhost).await;
    let add = addition("R-1", "olga");
    deliver(&desk, Incoming::Add(add.clone())).await;
    assert_eq!(
        stored(&database, add.payload.request_id).await,
        words([Some("added"), Some("R-1"), None, Some("olga")])
    );
    add_locker(&database, "R-2").await;
    deliver(&desk, Incoming::Request(locker_request("ada"))).await;

    // R-1 is ada's: refused, and the holder named for the operator.
    let held = retirement("R-1", "olga");
    deliver(&desk, Incoming::Retire(held.clone())).await;
    assert_eq!(
        stored(&database, held.payload.request_id).await,
        words([Some("held"), Some("R-1"), Some("ada"), Some("olga")])
    );
    let free = retirement("R-2", "pete");
    deliver(&desk, Incoming::Retire(free.clone())).await;
    let retired = words([Some("retired"), Some("R-2"), None, Some("pete")]);
    assert_eq!(stored(&database, free.payload.request_id).await, retired);
    // Delivered again: the same outcome, and the record of who retired it stands.
    deliver(&desk, Incoming::Retire(free.clone())).await;
    assert_eq!(stored(&database, free.payload.request_id).await, retired);
    let again = retirement("R-2", "olga");
    deliver(&desk, Incoming::Retire(again.clone())).await;
    assert_eq!(
        stored(&database, again.payload.request_id).await,
        words([Some("already-retired"), Some("R-2"), None, Some("olga")])
    );
    let unknown = retirement("R-9", "olga");
    deliver(&desk, Incoming::Retire(unknown.clone())).await;
    assert_eq!(
        stored(&database, unknown.payload.request_id).await,
        words([Some("no-such-locker"), Some("R-9"), None, Some("olga")])
    );
    let re_add = addition("R-2", "olga");
    deliver(&desk, Incoming::Add(re_add.clone())).await;
    assert_eq!(
        stored(&database, re_add.payload.request_id).await,
        words([Some("code-retired"), Some("R-2"), None, Some("olga")])
    );

    // Nobody gets the retired locker; it is kept with the request that retired it.
    let bob = locker_request("bob");
    let bob_id = bob.payload.request_id.to_string();
    deliver(&desk, Incoming::Request(bob)).await;
    let bob_got = store::request(&database, &bob_id).await.unwrap().unwrap();
    assert_eq!(bob_got.outcome, "none-free");
    let lockers = store::all_lockers(&database).await.unwrap();
    assert_eq!(lockers[0].holder.as_deref(), Some("ada"));
    assert!(!lockers[0].retired(), "{lockers:?}");
    let free_id = free.payload.request_id.to_string();
    assert_eq!(lockers[1].retired_by.as_deref(), Some(free_id.as_str()));
    assert!(lockers[1].holder.is_none(), "{lockers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_assignment_racing_a_retirement_on_two_instances_ends_with_exactly_one_of_them() {
    let (mongo, database, vhost) = setting().await;
    let first = Arc::new(instance(&mongo, &vhost).await);
    let second = Arc::new(instance(&mongo, &vhost).await);

    // Each round adds one locker, so exactly one is free; a user wants one while an operator
    // retires that one, each request handed to both instances at the same moment.
    const ROUNDS: usize = 30;
    let mut mistakes = Vec::new();
    let (mut assigned, mut retired) = (0, 0);
    for round in 0..ROUNDS {
        let code = format!("Q{round:03}");
        add_locker(&database, &code).await;
        let want = locker_request(&format!("racer-{round}"));
        let retire = retirement(&code, "olga");
        let mut running = tokio::task::JoinSet::new();
        for desk in [first.clone(), second.clone()] {
            let (wanting, message) = (desk.clone(), Incoming::Request(want.clone()));
            running.spawn(async move { deliver(&wanting, message).await });
            let message = Incoming::Retire(retire.clone());
            running.spawn(async move { deliver(&desk, message).await });
        }
        while let Some(joined) = running.join_next().await {
            joined.unwrap();
        }
        let outcome = |id: uuid::Uuid| {
            let database = database.clone();
            async move {
                store::request(&database, &id.to_string())
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let wanted = outcome(want.payload.request_id).await;
        let retiring = outcome(retire.payload.request_id).await;
        let locker = store::lockers(&database)
            .find_one(bson::doc! { "_id": &code })
            .await
            .unwrap()
            .unwrap();
        let got_it = wanted.outcome == "assigned" && wanted.locker.as_deref() == Some(&code);
        let retired_it = retiring.outcome == "retired";
        assigned += usize::from(got_it);
        retired += usize::from(retired_it);
        let agrees = if got_it {
            retiring.outcome == "held" && locker.holder.is_some() && !locker.retired()
        } else {
            retired_it
                && wanted.outcome == "none-free"
                && locker.retired()
                && locker.holder.is_none()
        };
        if !agrees {
            mistakes.push(format!(
                "{code}: want {}, retire {}, locker {locker:?}",
                wanted.outcome, retiring.outcome
            ));
        }
    }
    assert!(mistakes.is_empty(), "{mistakes:#?}");
    assert_eq!(assigned + retired, ROUNDS);
}
