//! The records list a bounded page at a time, newest first: `/api/records` and `/records` walk
//! every record once, each page linking to the next only when there is one; a page size or a
//! position out of bounds is a clear 400 for the API, and the page clamps the size. The records
//! are written straight into the read model, as the projection would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;
use warren_manifest::{RECORD_SERVICE, RECORDS_DB};
use warren_testkit::services::{Process, Wiring};

struct Recorder {
    service: Process,
    wiring: Wiring,
    http: reqwest::Client,
}

impl Recorder {
    async fn start() -> Self {
        let wiring = Wiring::fresh(&[RECORD_SERVICE]).await;
        let service = wiring.start(RECORD_SERVICE).await;
        Self {
            service,
            wiring,
            http: reqwest::Client::new(),
        }
    }

    /// `count` records, a second apart back from now, newest first, with two at the same
    /// instant (the id breaks the tie); their ids in list order.
    async fn add(&self, count: i64) -> Vec<Uuid> {
        let settings = self.wiring.postgres(RECORDS_DB).as_service(&RECORD_SERVICE);
        let pool = warren_service_kit::postgres::pool(&settings).unwrap();
        let client = pool.get().await.unwrap();
        let now = Utc::now().trunc_subsecs(6);
        let mut records: Vec<(DateTime<Utc>, Uuid)> = (0..count)
            .map(|n| (now - Duration::seconds(n.max(1)), Uuid::now_v7()))
            .collect();
        for (recorded_at, record_id) in &records {
            client
                .execute(
                    "INSERT INTO records (record_id, city, country, latitude, longitude, \
                         timezone, local_time, observed_at, temperature_c, weather_code, \
                         condition, is_day, recorded_at) \
                     VALUES ($1, 'Reykjavík', 'Iceland', 64.1, -21.9, 'Atlantic/Reykjavik', \
                         '2026-11-22T18:45', $2, -2.3, 71, 'Slight snow fall', false, $2)",
                    &[record_id, recorded_at],
                )
                .await
                .unwrap();
        }
        records.sort_by(|a, b| b.cmp(a));
        records.into_iter().map(|(_, id)| id).collect()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.service.url(path)).send().await.unwrap()
    }

    /// Every page from `first`, checking that `next` and the `Link` header agree.
    async fn walk(&self, first: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(path) = next {
            let response = self.get(&path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let link = response
                .headers()
                .get("link")
                .map(|link| link.to_str().unwrap().to_owned());
            let page: Value = response.json().await.unwrap();
            next = page["next"].as_str().map(str::to_owned);
            assert_eq!(
                link,
                next.as_ref().map(|next| format!("<{next}>; rel=\"next\"")),
                "{path}"
            );
            pages.push(page);
            assert!(pages.len() < 100, "the walk does not end");
        }
        pages
    }

    async fn stop(mut self) {
        self.service.stop().await;
    }
}

fn ids(pages: &[Value]) -> Vec<Uuid> {
    pages
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap())
        .map(|record| record["record_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn sizes(pages: &[Value]) -> Vec<usize> {
    pages
        .iter()
        .map(|page| page["items"].as_array().unwrap().len())
        .collect()
}

#[tokio::test]
async fn the_records_api_walks_every_record_once_newest_first_a_bounded_page_at_a_time() {
    let recorder = Recorder::start().await;
    let records = recorder.add(60).await;
    let pages = recorder.walk("/api/records").await;
    assert_eq!(sizes(&pages), [50, 10], "50 unless asked");
    assert_eq!(ids(&pages), records);
    let pages = recorder.walk("/api/records?limit=25").await;
    assert_eq!(sizes(&pages), [25, 25, 10]);
    assert_eq!(ids(&pages), records);
    assert_eq!(
        sizes(&recorder.walk("/api/records?limit=30").await),
        [30, 30]
    );
    assert_eq!(sizes(&recorder.walk("/api/records?limit=200").await), [60]);

    for query in [
        "limit=0",
        "limit=201",
        "limit=ten",
        "after=yesterday",
        "after=2026-11-24T06:00:00Z",
    ] {
        let response = recorder.get(&format!("/api/records?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body = response.text().await.unwrap();
        let field = query.split('=').next().unwrap();
        assert!(body.contains(field), "{query}: {body}");
    }
    recorder.stop().await;
}

#[tokio::test]
async fn the_records_page_links_to_the_next_page_only_when_there_is_one_and_clamps_its_size() {
    let recorder = Recorder::start().await;
    let records = recorder.add(45).await;
    let mut seen = Vec::new();
    let mut shown = Vec::new();
    let mut next = Some("/records?limit=20".to_owned());
    while let Some(path) = next {
        let response = recorder.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page = response.text().await.unwrap();
        seen.push(page.matches("class=\"card record\"").count());
        shown.extend(
            page.split("id=\"record-")
                .skip(1)
                .map(|rest| rest[..36].parse::<Uuid>().unwrap()),
        );
        next = page.contains("id=\"next\"").then(|| {
            let before = page.split("id=\"next\"").next().unwrap();
            let href = before.rsplit("href=\"").next().unwrap();
            href.split('"')
                .next()
                .unwrap()
                .replace("&#38;", "&")
                .replace("&amp;", "&")
        });
        assert!(seen.len() < 10, "{page}");
    }
    assert_eq!(seen, [20, 20, 5]);
    assert_eq!(shown, records, "every record once, newest first");
    let first = recorder.get("/records").await.text().await.unwrap();
    assert!(first.contains(&format!("id=\"record-{}\"", records[0])));
    assert!(
        !first.contains("id=\"next\""),
        "45 records fit in one page of 50"
    );
    // Too large a size is the largest allowed; an unreadable one is the default.
    for query in ["limit=1000", "limit=ten", "limit=0"] {
        let response = recorder.get(&format!("/records?{query}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
    }
    recorder.stop().await;
}
