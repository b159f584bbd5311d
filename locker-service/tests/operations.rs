//! The MongoDB shell of the decision core: each `Ask` answered by one operation on a real
//! database, as the model in `decisions/store.rs` answers it, and the settling of the lockers
//! with a stored outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use locker_service::domain::{
    Ask, Location, LockerCode, Reply, Settle, Standing, TakeId, UserName,
};
use locker_service::operations::{run, settle};
use locker_service::startup::SERVICE;
use locker_service::store;
use mongodb::bson::{self, doc};
use uuid::Uuid;
use warren_service_kit::mongo;
use warren_testkit::mongo_database;

async fn database() -> mongodb::Database {
    let database = mongo::database(&mongo_database().await, SERVICE)
        .await
        .unwrap();
    store::prepare(&database).await.unwrap();
    database
}

fn code(text: &str) -> LockerCode {
    LockerCode::parse(text).unwrap()
}

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

async fn add(database: &mongodb::Database, request: Uuid, text: &str) -> Reply {
    let ask = Ask::Insert {
        code: code(text),
        location: Location::parse("Hall B").unwrap(),
    };
    run(database, request, &ask).await.unwrap()
}

#[tokio::test]
async fn an_insert_reports_the_request_that_added_an_existing_code() {
    let database = database().await;
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(add(&database, first, "A-1").await, Reply::Inserted);
    let exists = Reply::Exists {
        added_by: Some(first),
        retired: false,
    };
    assert_eq!(add(&database, second, "A-1").await, exists);
    assert_eq!(add(&database, first, "A-1").await, exists);
}

#[tokio::test]
async fn a_take_holds_a_free_locker_under_a_take_id_and_the_index_refuses_a_second() {
    let database = database().await;
    let (adding, wanting, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    add(&database, adding, "A-1").await;
    add(&database, adding, "A-2").await;
    let ada = user("ada");
    let held = Ask::Held { user: ada.clone() };
    assert_eq!(
        run(&database, wanting, &held).await.unwrap(),
        Reply::Holds(None)
    );

    let take = Ask::TakeFree { user: ada.clone() };
    let Reply::Took(Some(took)) = run(&database, wanting, &take).await.unwrap() else {
        panic!("no locker taken");
    };
    assert_eq!(took.code, code("A-1"));
    assert_eq!(took.assigned_by, Some(wanting));
    assert!(took.take.is_some());
    assert_eq!(
        run(&database, wanting, &held).await.unwrap(),
        Reply::Holds(Some(took.clone()))
    );
    // ada holds one already: the unique index refuses A-2 to her.
    assert_eq!(
        run(&database, other, &take).await.unwrap(),
        Reply::Took(None)
    );
    let bob = Ask::TakeFree { user: user("bob") };
    let Reply::Took(Some(second)) = run(&database, other, &bob).await.unwrap() else {
        panic!("no locker taken");
    };
    assert_eq!(second.code, code("A-2"));
    assert_ne!(second.take, took.take, "each take has its own id");
    let cy = Ask::TakeFree { user: user("cy") };
    assert_eq!(run(&database, other, &cy).await.unwrap(), Reply::Took(None));
}

#[tokio::test]
async fn a_free_releases_the_users_locker_and_marks_it_with_the_request() {
    let database = database().await;
    let (adding, wanting, releasing) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    add(&database, adding, "A-1").await;
    let ada = user("ada");
    run(&database, wanting, &Ask::TakeFree { user: ada.clone() })
        .await
        .unwrap();
    let released_by = |request| run(&database, request, &Ask::ReleasedBy);
    assert_eq!(
        released_by(releasing).await.unwrap(),
        Reply::ReleasedBy(None)
    );
    let free = Ask::Free { user: ada.clone() };
    assert_eq!(
        run(&database, releasing, &free).await.unwrap(),
        Reply::Freed(Some(code("A-1")))
    );
    assert_eq!(
        released_by(releasing).await.unwrap(),
        Reply::ReleasedBy(Some(code("A-1")))
    );
    assert_eq!(
        run(&database, releasing, &free).await.unwrap(),
        Reply::Freed(None)
    );
    let locker = &store::all_lockers(&database).await.unwrap()[0];
    assert!(
        locker.holder.is_none() && locker.assigned_by.is_none() && locker.take_id.is_none(),
        "{locker:?}"
    );
}

/// Marks `text` as held by `holder`, assigned by `request` under the take `take`.
async fn hold(database: &mongodb::Database, text: &str, holder: &str, request: &str, take: &str) {
    store::lockers(database)
        .update_one(
            doc! { "_id": text },
            doc! { "$set": {
                "holder": holder,
                "assigned_by": request,
                "take_id": take,
                "held_since": bson::DateTime::now(),
            } },
        )
        .await
        .unwrap();
}

async fn holders(database: &mongodb::Database) -> Vec<Option<String>> {
    store::all_lockers(database)
        .await
        .unwrap()
        .into_iter()
        .map(|locker| locker.holder)
        .collect()
}

fn named(names: [Option<&str>; 3]) -> Vec<Option<String>> {
    names.map(|name| name.map(str::to_owned)).to_vec()
}

#[tokio::test]
async fn settling_frees_every_locker_of_the_request_but_the_one_kept_by_code_and_take() {
    let database = database().await;
    let id = Uuid::now_v7().to_string();
    for text in ["A-1", "A-2", "A-3"] {
        add(&database, Uuid::now_v7(), text).await;
    }
    hold(&database, "A-1", "ada", &id, "t1").await;
    hold(&database, "A-2", "bob", &id, "t2").await;
    hold(&database, "A-3", "cy", "another request", "t3").await;

    let keep = |text: &str, take: Option<&str>| Settle::Assignments {
        keep: Some((code(text), take.map(TakeId::new))),
    };
    assert_eq!(
        settle(&database, &id, &keep("A-2", Some("t2")))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        holders(&database).await,
        named([None, Some("bob"), Some("cy")])
    );
    // The same locker taken again by a late take: another take id, freed.
    assert_eq!(
        settle(&database, &id, &keep("A-2", Some("late")))
            .await
            .unwrap(),
        1
    );
    assert_eq!(holders(&database).await, named([None, None, Some("cy")]));

    // An outcome stored before takes had ids keeps its locker by code alone.
    hold(&database, "A-1", "ada", &id, "t4").await;
    assert_eq!(settle(&database, &id, &keep("A-1", None)).await.unwrap(), 0);
    let none = Settle::Assignments { keep: None };
    assert_eq!(settle(&database, &id, &none).await.unwrap(), 1);
    assert_eq!(holders(&database).await, named([None, None, Some("cy")]));
    let lockers = store::all_lockers(&database).await.unwrap();
    assert!(lockers[0].assigned_by.is_none() && lockers[0].take_id.is_none());
}

#[tokio::test]
async fn a_retirement_takes_only_a_free_locker_out_of_service_and_no_take_gets_it_after() {
    let database = database().await;
    let (adding, wanting, retiring, other) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    add(&database, adding, "A-1").await;
    add(&database, adding, "A-2").await;
    let ada = user("ada");
    run(&database, wanting, &Ask::TakeFree { user: ada.clone() })
        .await
        .unwrap();
    let retire = |text: &str| Ask::Retire { code: code(text) };
    let look = |text: &str| Ask::Look { code: code(text) };

    // A-1 is held: the conditional update leaves it alone.
    assert_eq!(
        run(&database, retiring, &retire("A-1")).await.unwrap(),
        Reply::Retired(false)
    );
    assert_eq!(
        run(&database, retiring, &look("A-1")).await.unwrap(),
        Reply::Found(Some(Standing::Held { holder: ada }))
    );
    assert_eq!(
        run(&database, retiring, &retire("A-2")).await.unwrap(),
        Reply::Retired(true)
    );
    let retired = Reply::Found(Some(Standing::Retired { by: Some(retiring) }));
    assert_eq!(run(&database, other, &look("A-2")).await.unwrap(), retired);
    // Retired once: neither this request nor another retires it again.
    for request in [retiring, other] {
        assert_eq!(
            run(&database, request, &retire("A-2")).await.unwrap(),
            Reply::Retired(false)
        );
    }
    assert_eq!(
        run(&database, other, &look("B-9")).await.unwrap(),
        Reply::Found(None)
    );
    assert_eq!(
        run(&database, other, &retire("B-9")).await.unwrap(),
        Reply::Retired(false)
    );

    // The only locker not held is retired: no take gets it, and its code is not added again.
    let bob = Ask::TakeFree { user: user("bob") };
    assert_eq!(
        run(&database, other, &bob).await.unwrap(),
        Reply::Took(None)
    );
    assert_eq!(
        add(&database, other, "A-2").await,
        Reply::Exists {
            added_by: Some(adding),
            retired: true
        }
    );
    let lockers = store::all_lockers(&database).await.unwrap();
    assert!(lockers[1].retired() && lockers[1].retired_at.is_some());
    assert!(lockers[1].holder.is_none(), "{lockers:?}");

    // A retirement stored as something else (a late decider's) is undone by settling.
    let id = retiring.to_string();
    assert_eq!(
        settle(&database, &id, &Settle::Retirements).await.unwrap(),
        1
    );
    assert_eq!(
        run(&database, other, &look("A-2")).await.unwrap(),
        Reply::Found(Some(Standing::Free))
    );
    let Reply::Took(Some(took)) = run(&database, other, &bob).await.unwrap() else {
        panic!("the locker back in service was not taken");
    };
    assert_eq!(took.code, code("A-2"));
}
