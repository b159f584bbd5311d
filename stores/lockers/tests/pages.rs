//! Lockers by page, against the real MongoDB-compatible server: a walk sees every locker once
//! and in order while lockers arrive, and each page query is planned as a walk of an index in
//! its order, stopped after one page (plus one): no collection scan, no sort.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mongodb::Database;
use mongodb::bson::{Bson, DateTime, Document, doc};
use warren_store_lockers::{
    BY_CODE, BY_HOLDER, Query, held_after, held_query, lockers_page, lockers_query,
};

async fn store() -> Database {
    let settings = warren_testkit::mongo_database().await;
    let database = warren_service_kit::mongo::database(&settings, "test")
        .await
        .unwrap();
    warren_store_lockers::prepare(&database).await.unwrap();
    database
}

fn locker(code: &str, holder: Option<&str>) -> Document {
    let mut locker = doc! {
        "_id": code,
        "location": "Hall B",
        "added_at": DateTime::now(),
        "added_by": "test",
    };
    if let Some(holder) = holder {
        locker.insert("holder", holder);
    }
    locker
}

async fn add(database: &Database, lockers: Vec<Document>) {
    for chunk in lockers.chunks(5_000) {
        database
            .collection::<Document>("lockers")
            .insert_many(chunk.to_vec())
            .await
            .unwrap();
    }
}

fn coded(numbers: impl IntoIterator<Item = usize>) -> Vec<Document> {
    numbers
        .into_iter()
        .map(|number| locker(&format!("L-{number:04}"), None))
        .collect()
}

#[tokio::test]
async fn a_walk_sees_every_locker_once_in_order_while_lockers_arrive() {
    let database = store().await;
    add(&database, coded((0..240).step_by(2))).await;
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = lockers_page(&database, after.as_deref(), 50).await.unwrap();
        assert!(page.items.len() <= 50);
        seen.extend(page.items.iter().map(|locker| locker.code.clone()));
        pages += 1;
        if pages == 2 {
            add(&database, coded((1..240).step_by(2))).await;
        }
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), seen.last());
                after = Some(next);
            }
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in order, each once");
    let passed = seen[99].clone();
    for number in 0..240 {
        let code = format!("L-{number:04}");
        // Every locker there at the start is seen; one that arrived is seen if it is ahead of
        // where the walk was.
        let expected = number % 2 == 0 || code > passed;
        assert_eq!(seen.contains(&code), expected, "{code}");
    }
}

#[tokio::test]
async fn held_lockers_come_by_holder_after_a_name() {
    let database = store().await;
    add(
        &database,
        vec![
            locker("A-1", Some("cat")),
            locker("A-2", None),
            locker("A-3", Some("ada")),
            locker("A-4", Some("bob")),
            locker("A-5", Some("dan")),
        ],
    )
    .await;
    let holders = |lockers: Vec<warren_store_lockers::Locker>| -> Vec<String> {
        lockers
            .into_iter()
            .map(|locker| locker.holder.unwrap())
            .collect()
    };
    assert_eq!(
        holders(held_after(&database, None, 3).await.unwrap()),
        ["ada", "bob", "cat"]
    );
    assert_eq!(
        holders(held_after(&database, Some("bob"), 3).await.unwrap()),
        ["cat", "dan"]
    );
}

/// The stages of the plan the server would run `query` with, outermost first.
async fn stages(database: &Database, query: &Query) -> Vec<Document> {
    let explained = database.run_command(query.explain()).await.unwrap();
    let mut stage = explained
        .get_document("queryPlanner")
        .unwrap()
        .get_document("winningPlan")
        .unwrap()
        .clone();
    let mut all = Vec::new();
    loop {
        let input = stage.get_document("inputStage").ok().cloned();
        all.push(stage);
        match input {
            Some(input) => stage = input,
            None => return all,
        }
    }
}

/// `query` is planned as a walk of `index` in the query's order, stopped after `limit`
/// documents: LIMIT over FETCH over IXSCAN, with no SORT and no COLLSCAN.
async fn assert_one_page_from(database: &Database, query: &Query, index: &str, limit: i64) {
    let stages = stages(database, query).await;
    let names: Vec<&str> = stages
        .iter()
        .map(|stage| stage.get_str("stage").unwrap())
        .collect();
    assert_eq!(names, ["LIMIT", "FETCH", "IXSCAN"], "{stages:#?}");
    assert_eq!(
        stages[0]
            .get("limitAmount")
            .and_then(Bson::as_i64)
            .or_else(|| {
                stages[0]
                    .get("limitAmount")
                    .and_then(Bson::as_i32)
                    .map(i64::from)
            }),
        Some(limit),
        "{stages:#?}"
    );
    assert_eq!(
        stages[2].get_str("indexName").unwrap(),
        index,
        "{stages:#?}"
    );
    assert_eq!(stages[2].get_str("direction").unwrap(), "forward");
}

#[tokio::test]
async fn a_page_of_100_000_lockers_is_one_page_of_an_index_walk() {
    let database = store().await;
    add(
        &database,
        (0..100_000)
            .map(|number| {
                let holder = format!("user-{number:06}");
                locker(
                    &format!("L-{number:06}"),
                    (number % 2 == 0).then_some(holder.as_str()),
                )
            })
            .collect(),
    )
    .await;
    assert_one_page_from(&database, &lockers_query(None, 50), BY_CODE, 51).await;
    assert_one_page_from(&database, &lockers_query(Some("L-090000"), 50), BY_CODE, 51).await;
    assert_one_page_from(&database, &held_query(None, 51), BY_HOLDER, 51).await;
    assert_one_page_from(
        &database,
        &held_query(Some("user-090000"), 51),
        BY_HOLDER,
        51,
    )
    .await;
    let page = lockers_page(&database, Some("L-090000"), 50).await.unwrap();
    assert_eq!(page.items[0].code, "L-090001");
    assert_eq!(page.next.as_deref(), Some("L-090050"));
}
