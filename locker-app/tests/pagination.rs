//! Lists and the stores' check, a bounded page at a time: `/api/users`, `/api/lockers` and
//! `/api/reconcile` (and the `/users` and `/lockers` pages) walk every row once, in order, each
//! page linking to the next only when there is one; a page size out of bounds is a clear 400
//! for the JSON APIs. The rows are written straight into the read models (as their writers
//! would), so these tests need no requests to flow. The lists are an operator's: the JSON ones
//! are read with the operator's API token, the pages with their session; the operator is one
//! of each test's users, so the rows are the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use mongodb::bson::{DateTime, Document, doc};
use reqwest::StatusCode;
use serde_json::Value;
use warren_manifest::{LOCKER_APP, LOCKER_SERVICE, LOCKERS_DB, USER_SERVICE, USERS_DB};
use warren_testkit::accounts::{PASSWORD, Person, make_operator};
use warren_testkit::services::{Process, Wiring};

struct Lists {
    app: Process,
    services: Vec<Process>,
    wiring: Wiring,
    http: reqwest::Client,
    /// The operator's browser, signed in.
    operator: Person,
    /// The operator's API token.
    token: String,
}

impl Lists {
    /// locker-app on fresh stores, made (migrated, indexed, granted) by their writers, with
    /// the user `operator` made an operator (by `warren-operator`) and signed in.
    async fn start(operator: &str) -> Self {
        let wiring = Wiring::fresh(&[USER_SERVICE, LOCKER_SERVICE, LOCKER_APP]).await;
        let services = vec![
            wiring.start(USER_SERVICE).await,
            wiring.start(LOCKER_SERVICE).await,
        ];
        make_operator(&wiring, operator, PASSWORD).await;
        let app = wiring.start(LOCKER_APP).await;
        let operator = Person::new(&app.url(""), operator);
        operator.sign_in(PASSWORD).await;
        let token = operator.api_token("lists").await;
        Self {
            app,
            services,
            wiring,
            http: reqwest::Client::new(),
            operator,
            token,
        }
    }

    /// Users as user-service writes them: each `(name, locker)`.
    async fn add_users(&self, users: &[(&str, Option<&str>)]) {
        let settings = self.wiring.postgres(USERS_DB).as_service(&USER_SERVICE);
        let pool = warren_service_kit::postgres::pool(&settings).unwrap();
        let client = pool.get().await.unwrap();
        for (name, locker) in users {
            client
                .execute(
                    "INSERT INTO users (name, locker) VALUES ($1, $2)",
                    &[name, locker],
                )
                .await
                .unwrap();
        }
    }

    /// Lockers as locker-service writes them: each `(code, holder)`.
    async fn add_lockers(&self, lockers: &[(&str, Option<&str>)]) {
        let database = warren_service_kit::mongo::database(self.wiring.mongo(LOCKERS_DB), "test")
            .await
            .unwrap();
        let documents: Vec<Document> = lockers
            .iter()
            .map(|(code, holder)| {
                let mut locker = doc! {
                    "_id": *code,
                    "location": "Hall B",
                    "added_at": DateTime::now(),
                    "added_by": "test",
                };
                if let Some(holder) = holder {
                    locker.insert("holder", *holder);
                }
                locker
            })
            .collect();
        database
            .collection::<Document>("lockers")
            .insert_many(documents)
            .await
            .unwrap();
    }

    /// `path` as the operator: with the API token under `/api`, with the session elsewhere.
    async fn get(&self, path: &str) -> reqwest::Response {
        let request = if path.starts_with("/api/") {
            self.http.get(self.app.url(path)).bearer_auth(&self.token)
        } else {
            self.operator.client.get(self.app.url(path))
        };
        request.send().await.unwrap()
    }

    /// Every page of `path` from `first`, checking each page's links: `next` in the body and
    /// the `Link` header name the same page, and only when there is one.
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
                "{path}: {page}"
            );
            pages.push(page);
            assert!(pages.len() < 100, "the walk does not end");
        }
        pages
    }

    async fn stop(self) {
        let Self {
            mut app, services, ..
        } = self;
        app.stop().await;
        for mut service in services {
            service.stop().await;
        }
    }
}

fn items<'a>(pages: &'a [Value], key: &str) -> Vec<&'a str> {
    pages
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap())
        .map(|item| item[key].as_str().unwrap())
        .collect()
}

fn page_sizes(pages: &[Value]) -> Vec<usize> {
    pages
        .iter()
        .map(|page| page["items"].as_array().unwrap().len())
        .collect()
}

#[tokio::test]
async fn the_json_lists_walk_every_row_once_in_order_a_bounded_page_at_a_time() {
    let names: Vec<String> = (1..=60).map(|n| format!("user-{n:02}")).collect();
    let lists = Lists::start(&names[0]).await;
    let users: Vec<(&str, Option<&str>)> = names[1..]
        .iter()
        .map(|name| (name.as_str(), None))
        .collect();
    lists.add_users(&users).await;
    let codes: Vec<String> = (1..=7).map(|n| format!("L-{n:02}")).collect();
    let lockers: Vec<(&str, Option<&str>)> =
        codes.iter().map(|code| (code.as_str(), None)).collect();
    lists.add_lockers(&lockers).await;

    // 50 unless asked.
    let pages = lists.walk("/api/users").await;
    assert_eq!(page_sizes(&pages), [50, 10]);
    assert_eq!(items(&pages, "name"), names);
    assert_eq!(pages[0]["next"], "/api/users?limit=50&after=user%2D50");

    let pages = lists.walk("/api/users?limit=25").await;
    assert_eq!(page_sizes(&pages), [25, 25, 10]);
    assert_eq!(items(&pages, "name"), names);
    // A page exactly at the end says so, without an empty page after it.
    assert_eq!(
        page_sizes(&lists.walk("/api/users?limit=30").await),
        [30, 30]
    );
    assert_eq!(page_sizes(&lists.walk("/api/users?limit=200").await), [60]);

    let pages = lists.walk("/api/lockers?limit=3").await;
    assert_eq!(page_sizes(&pages), [3, 3, 1]);
    assert_eq!(items(&pages, "code"), codes);
    let pages = lists.walk("/api/lockers?limit=3&after=L-05").await;
    assert_eq!(items(&pages, "code"), ["L-06", "L-07"]);
    lists.stop().await;
}

#[tokio::test]
async fn a_page_size_out_of_bounds_is_a_clear_400_for_the_apis_and_clamped_on_pages() {
    let names: Vec<String> = (1..=210).map(|n| format!("user-{n:03}")).collect();
    let lists = Lists::start(&names[0]).await;
    let users: Vec<(&str, Option<&str>)> = names[1..]
        .iter()
        .map(|name| (name.as_str(), None))
        .collect();
    lists.add_users(&users).await;
    for api in ["/api/users", "/api/lockers", "/api/reconcile"] {
        for limit in ["0", "201", "1000", "-1", "ten", "1.5"] {
            let response = lists.get(&format!("{api}?limit={limit}")).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{api} {limit}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["field"], "limit", "{api} {limit}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("from 1 to 200"),
                "{body}"
            );
        }
        let response = lists.get(&format!("{api}?limit=200")).await;
        assert_eq!(response.status(), StatusCode::OK, "{api}");
    }
    // A page clamps: at most 200 rows, and the next page goes on from there.
    let response = lists.get("/users?limit=1000").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert_eq!(page.matches("<tr class=\"user\"").count(), 200);
    assert!(page.contains("user-200") && !page.contains("user-201"));
    assert!(page.contains("id=\"next\""), "{page}");
    lists.stop().await;
}

/// The rows of an HTML list page, and its "Next page" link.
fn html_page(page: &str, row: &str) -> (usize, Option<String>) {
    let next = page.split("id=\"next\"").next().and_then(|before| {
        page.contains("id=\"next\"")
            .then(|| before.rsplit("href=\"").next().unwrap())
            .map(|href| {
                href.split('"')
                    .next()
                    .unwrap()
                    .replace("&#38;", "&")
                    .replace("&amp;", "&")
            })
    });
    (page.matches(row).count(), next)
}

#[tokio::test]
async fn the_pages_link_to_the_next_page_only_when_there_is_one() {
    let names: Vec<String> = (1..=5).map(|n| format!("user-{n}")).collect();
    let lists = Lists::start(&names[0]).await;
    let users: Vec<(&str, Option<&str>)> = names[1..]
        .iter()
        .map(|name| (name.as_str(), None))
        .collect();
    lists.add_users(&users).await;
    lists
        .add_lockers(&[("A-1", Some("user-1")), ("A-2", None), ("A-3", None)])
        .await;
    for (first, row, sizes) in [
        ("/users?limit=2", "<tr class=\"user\"", vec![2, 2, 1]),
        ("/lockers?limit=2", "<div class=\"locker ", vec![2, 1]),
    ] {
        let mut seen = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(path) = next {
            let response = lists.get(&path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let page = response.text().await.unwrap();
            let (rows, link) = html_page(&page, row);
            seen.push(rows);
            next = link;
            assert!(seen.len() < 10, "{page}");
        }
        assert_eq!(seen, sizes, "{first}");
    }
    lists.stop().await;
}

#[tokio::test]
async fn reconcile_checks_one_range_of_names_per_call_and_a_walk_covers_every_name_once() {
    // bob, without a locker, is the operator.
    let lists = Lists::start("bob").await;
    lists
        .add_users(&[
            ("ada", Some("A-1")),
            ("cat", Some("A-3")),
            ("dan", Some("A-9")), // a locker that does not exist
            ("eve", Some("A-5")),
            ("fay", None),
            ("gus", Some("A-7")),
        ])
        .await;
    lists
        .add_lockers(&[
            ("A-1", Some("ada")),
            ("A-2", Some("bea")), // between users, and not a user
            ("A-3", Some("cat")),
            ("A-4", None),
            ("A-5", Some("fay")), // eve's row says A-5; fay's row says none
            ("A-7", Some("gus")),
            ("A-8", Some("zed")), // after the last user, and not a user
        ])
        .await;
    let pages = lists.walk("/api/reconcile?limit=3").await;
    // Each range starts where the one before ended; the last runs to the end.
    let mut after = Value::Null;
    for page in &pages {
        assert_eq!(page["after"], after, "{pages:#?}");
        after = page["through"].clone();
        assert_eq!(
            page["agree"],
            page["disagreements"].as_array().unwrap().is_empty()
        );
    }
    assert_eq!(after, Value::Null, "{pages:#?}");
    // The names of both stores, three per call: ada bea bob | cat dan eve | fay gus zed.
    let ranges: Vec<(Value, Value)> = pages
        .iter()
        .map(|page| (page["after"].clone(), page["through"].clone()))
        .collect();
    assert_eq!(
        ranges,
        [
            (Value::Null, "bob".into()),
            ("bob".into(), "eve".into()),
            // The last three names are the last: no empty call after them.
            ("eve".into(), Value::Null),
        ],
        "{pages:#?}"
    );
    let users: u64 = pages
        .iter()
        .map(|page| page["users"].as_u64().unwrap())
        .sum();
    assert_eq!(users, 7);
    let held: u64 = pages
        .iter()
        .map(|page| page["held"].as_u64().unwrap())
        .sum();
    assert_eq!(held, 6);
    let found: Vec<&str> = pages
        .iter()
        .flat_map(|page| page["disagreements"].as_array().unwrap())
        .map(|found| found.as_str().unwrap())
        .collect();
    assert_eq!(
        found.iter().collect::<BTreeSet<_>>().len(),
        found.len(),
        "each once: {found:?}"
    );
    assert_eq!(
        found,
        [
            "locker A-2 is held by \"bea\", who is not a user",
            "\"dan\" holds locker A-9, which does not exist",
            "\"eve\"'s row says locker A-5, which is held by Some(\"fay\")",
            "locker A-5 is held by \"fay\", whose row says None",
            "locker A-8 is held by \"zed\", who is not a user",
        ],
        "{pages:#?}"
    );
    assert_eq!(pages[0]["agree"], false);
    lists.stop().await;
}
