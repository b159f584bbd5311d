//! Users by page, against the real PostgreSQL: a walk sees every row once and in order while
//! rows arrive, and a page is read from the primary key's index, reading no more rows than it
//! shows (plus one), at any depth of a table of 100,000 users; names come in bytewise order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use deadpool_postgres::Pool;
use serde_json::Value;
use warren_manifest::{USER_SERVICE, USERS_DB};
use warren_store_users::{FIRST_USERS, USERS_AFTER, users};
use warren_testkit::TestDatabase;

/// A fresh users database, migrated, as its owner sees it.
async fn store() -> Pool {
    let database = TestDatabase::create(USERS_DB).await;
    let pool = warren_service_kit::postgres::pool(&database.as_service(&USER_SERVICE)).unwrap();
    warren_service_kit::postgres::migrate(&pool, warren_store_users::migrations())
        .await
        .unwrap();
    pool
}

async fn add_users(pool: &Pool, names: &[String]) {
    pool.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO users (name) SELECT unnest($1::text[])",
            &[&names],
        )
        .await
        .unwrap();
}

fn named(prefix: &str, numbers: impl IntoIterator<Item = usize>) -> Vec<String> {
    numbers
        .into_iter()
        .map(|number| format!("{prefix}{number:04}"))
        .collect()
}

#[tokio::test]
async fn a_walk_sees_every_user_once_in_order_while_users_arrive() {
    let pool = store().await;
    // Even numbers first; odd ones arrive during the walk, on both sides of where it is.
    let before = named("u", (0..240).step_by(2));
    add_users(&pool, &before).await;
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = users(&pool, after.as_deref(), 50).await.unwrap();
        assert!(page.items.len() <= 50);
        seen.extend(page.items.iter().map(|user| user.name.clone()));
        pages += 1;
        if pages == 2 {
            add_users(&pool, &named("u", (1..240).step_by(2))).await;
        }
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), seen.last(), "next is the page's last key");
                after = Some(next);
            }
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in order, each once");
    for name in &before {
        assert!(seen.contains(name), "{name} was skipped");
    }
    // Those that arrived behind the walk are not seen; those ahead of it are.
    let last_before_arrival = &seen[99];
    for name in named("u", (1..240).step_by(2)) {
        assert_eq!(
            seen.contains(&name),
            &name > last_before_arrival,
            "{name}, arrived while the walk was past {last_before_arrival}"
        );
    }
}

#[tokio::test]
async fn the_last_page_says_there_is_no_next_one() {
    let pool = store().await;
    add_users(&pool, &named("u", 0..100)).await;
    let first = users(&pool, None, 50).await.unwrap();
    assert_eq!(first.next.as_deref(), Some("u0049"));
    // Exactly a page left: no next page, found without an empty page after it.
    let second = users(&pool, first.next.as_deref(), 50).await.unwrap();
    assert_eq!(second.items.len(), 50);
    assert_eq!(second.next, None);
    let empty = store().await;
    let none = users(&empty, None, 50).await.unwrap();
    assert!(none.items.is_empty());
    assert_eq!(none.next, None);
}

/// The plan PostgreSQL ran for `sql` with `params`, with what each node read.
async fn plan(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Value {
    let row = pool
        .get()
        .await
        .unwrap()
        .query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), params)
        .await
        .unwrap();
    let plan: Value = row.get(0);
    plan[0]["Plan"].clone()
}

/// Every node of `plan`, depth first.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut all = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        all.extend(nodes(child));
    }
    all
}

/// The page is read from the users' index by name, in its order, and no node reads more than
/// `most` rows: no scan of the table, no sort of it.
fn assert_read_from_the_index(plan: &Value, most: u64) {
    let nodes = nodes(plan);
    for node in &nodes {
        let kind = node["Node Type"].as_str().unwrap();
        assert!(
            !matches!(
                kind,
                "Seq Scan" | "Sort" | "Bitmap Heap Scan" | "Incremental Sort"
            ),
            "a {kind} in {plan:#}"
        );
        let rows = node["Actual Rows"].as_u64().unwrap();
        assert!(rows <= most, "{kind} read {rows} rows: {plan:#}");
    }
    assert!(
        nodes.iter().any(|node| {
            matches!(
                node["Node Type"].as_str(),
                Some("Index Scan" | "Index Only Scan")
            ) && node["Index Name"] == "users_by_name_bytewise"
        }),
        "not read from users_by_name_bytewise: {plan:#}"
    );
}

#[tokio::test]
async fn a_page_of_100_000_users_reads_one_page_from_the_index() {
    let pool = store().await;
    let client = pool.get().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO users (name) \
             SELECT 'user-' || lpad(n::text, 6, '0') FROM generate_series(1, 100000) AS n; \
             ANALYZE users;",
        )
        .await
        .unwrap();
    let fetch: i64 = 51;
    assert_read_from_the_index(&plan(&pool, FIRST_USERS, &[&fetch]).await, 51);
    // Deep in the table, a page costs the same.
    assert_read_from_the_index(
        &plan(&pool, USERS_AFTER, &[&"user-090000", &fetch]).await,
        51,
    );
    let page = users(&pool, Some("user-090000"), 50).await.unwrap();
    assert_eq!(page.items[0].name, "user-090001");
    assert_eq!(page.next.as_deref(), Some("user-090050"));
}

#[tokio::test]
async fn names_come_in_bytewise_order_as_mongodb_orders_holders() {
    let pool = store().await;
    let mut names: Vec<String> = ["bob", "Zed", "ada", "$ne", "Émile", "ada-2", "ada2", "ZZ"]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    add_users(&pool, &names).await;
    names.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = users(&pool, after.as_deref(), 3).await.unwrap();
        seen.extend(page.items.into_iter().map(|user| user.name));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, names);
}
