//! Records by page, newest first, against the real PostgreSQL: a walk sees every record once
//! and in order while records arrive (ties in time broken by id), and a page is read from the
//! `records_newest_first` index, reading no more rows than it shows (plus one), at any depth of
//! a table of 100,000 records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, SubsecRound, Utc};
use deadpool_postgres::Pool;
use serde_json::Value;
use uuid::Uuid;
use warren_manifest::{RECORD_SERVICE, RECORDS_DB};
use warren_store_records::{After, list, newest_records, records_after};
use warren_testkit::TestDatabase;

async fn store() -> Pool {
    let database = TestDatabase::create(RECORDS_DB).await;
    let pool = warren_service_kit::postgres::pool(&database.as_service(&RECORD_SERVICE)).unwrap();
    warren_service_kit::postgres::migrate(&pool, warren_store_records::migrations())
        .await
        .unwrap();
    pool
}

/// Records `(id, recorded_at)`, as the projection writes them.
async fn add(pool: &Pool, records: &[(Uuid, DateTime<Utc>)]) {
    let client = pool.get().await.unwrap();
    for (record_id, recorded_at) in records {
        client
            .execute(
                "INSERT INTO records (record_id, city, country, latitude, longitude, timezone, \
                     local_time, observed_at, temperature_c, weather_code, condition, is_day, \
                     recorded_at) \
                 VALUES ($1, 'Reykjavík', 'Iceland', 64.1, -21.9, 'Atlantic/Reykjavik', \
                     '2026-11-22T18:45', $2, -2.3, 71, 'Slight snow fall', false, $2)",
                &[record_id, recorded_at],
            )
            .await
            .unwrap();
    }
}

/// `count` records, every other second back from `start`, two to each instant (so that the
/// id breaks ties).
fn records_from(start: DateTime<Utc>, count: i64) -> Vec<(Uuid, DateTime<Utc>)> {
    (0..count)
        .map(|n| (Uuid::now_v7(), start - Duration::seconds(2 * (n / 2))))
        .collect()
}

fn key(record: &(Uuid, DateTime<Utc>)) -> (DateTime<Utc>, Uuid) {
    (record.1, record.0)
}

#[tokio::test]
async fn a_walk_sees_every_record_once_newest_first_while_records_arrive() {
    let pool = store().await;
    // PostgreSQL keeps microseconds.
    let now = Utc::now().trunc_subsecs(6);
    let before = records_from(now, 120);
    add(&pool, &before).await;
    let mut seen: Vec<(DateTime<Utc>, Uuid)> = Vec::new();
    let mut after: Option<After> = None;
    let mut arrived = Vec::new();
    loop {
        let page = list(&pool, after, 25).await.unwrap();
        assert!(page.records.len() <= 25);
        seen.extend(
            page.records
                .iter()
                .map(|record| (record.recorded_at, record.record_id)),
        );
        if seen.len() == 50 {
            // Records arrive in between: newer than the walk, and older (a slow projection
            // writes a record pressed a while ago).
            arrived = records_from(now + Duration::seconds(1), 4);
            arrived.extend(records_from(now - Duration::seconds(61), 6));
            add(&pool, &arrived).await;
        }
        match page.next {
            Some(next) => {
                // The position survives its text form, as a next link carries it.
                assert_eq!(After::parse(&next.to_string()), Ok(next));
                assert_eq!(Some(&(next.recorded_at, next.record_id)), seen.last());
                after = Some(next);
            }
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, each once");
    for record in &before {
        assert!(seen.contains(&key(record)), "{record:?} was skipped");
    }
    let passed = seen[49];
    for record in &arrived {
        assert_eq!(
            seen.contains(&key(record)),
            key(record) < passed,
            "{record:?} arrived while the walk was at {passed:?}"
        );
    }
}

#[tokio::test]
async fn a_position_that_is_not_one_is_refused() {
    for text in [
        "",
        "yesterday",
        "2026-11-24T06:00:00Z",
        "2026-11-24T06:00:00Z_x",
    ] {
        assert!(After::parse(text).is_err(), "{text}");
    }
    let after =
        After::parse("2026-11-24T06:00:00.123456Z_0196f0b4-0000-7000-8000-000000000000").unwrap();
    assert_eq!(
        after.to_string(),
        "2026-11-24T06:00:00.123456Z_0196f0b4-0000-7000-8000-000000000000"
    );
}

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

fn nodes(plan: &Value) -> Vec<&Value> {
    let mut all = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        all.extend(nodes(child));
    }
    all
}

/// Read from `records_newest_first` in its order, no node reading more than `most` rows.
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
            ) && node["Index Name"] == "records_newest_first"
        }),
        "not read from records_newest_first: {plan:#}"
    );
}

#[tokio::test]
async fn a_page_of_100_000_records_reads_one_page_from_the_index() {
    let pool = store().await;
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "INSERT INTO records (record_id, city, country, latitude, longitude, timezone, \
                 local_time, observed_at, temperature_c, weather_code, condition, is_day, \
                 recorded_at) \
             SELECT gen_random_uuid(), 'Reykjavík', 'Iceland', 64.1, -21.9, \
                 'Atlantic/Reykjavik', '2026-11-22T18:45', now(), -2.3, 71, 'Slight snow fall', \
                 false, now() - n * interval '1 second' \
             FROM generate_series(1, 100000) AS n; \
             ANALYZE records;",
        )
        .await
        .unwrap();
    let fetch: i64 = 51;
    assert_read_from_the_index(&plan(&pool, &newest_records(), &[&fetch]).await, 51);
    // Deep in the table, a page costs the same.
    let deep = list(&pool, None, 200).await.unwrap().next.unwrap();
    let mut after = deep;
    for _ in 0..3 {
        after = list(&pool, Some(after), 200).await.unwrap().next.unwrap();
    }
    assert_read_from_the_index(
        &plan(
            &pool,
            &records_after(),
            &[&after.recorded_at, &after.record_id, &fetch],
        )
        .await,
        51,
    );
    let page = list(&pool, Some(after), 50).await.unwrap();
    assert_eq!(page.records.len(), 50);
    assert!(page.records[0].recorded_at < after.recorded_at);
}
