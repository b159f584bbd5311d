//! Passwords never appear: the whole locker app runs as processes logging JSON at debug level,
//! a tap queue keeps a copy of every message the broker is given, and after people sign up,
//! sign in, fail to sign in, make and use an API token and request a locker, every log line,
//! every message (body and headers), every row of the users and accounts databases and every
//! document of the lockers database is searched for each password and for the token. Only
//! their hashes may be anywhere, and they are.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::TryStreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use warren_manifest::{
    ACCOUNTS_DB, LOCKER_APP, LOCKER_SERVICE, LOCKERS_DB, USER_SERVICE, USERS_DB,
};
use warren_testkit::accounts::{Logged, Person, Tap, make_operator};
use warren_testkit::services::Wiring;
use warren_testkit::{TestDatabase, mongo_admin, unique_name};

/// A password no test data could hold by chance (letters, digits and `-` only, so that no
/// encoding — URL, JSON, a log's quoting — changes how it is written).
fn known(what: &str) -> String {
    format!("{what}-{}", Uuid::new_v4().simple())
}

/// Every row of every table of `database`, each as JSON text (`row_to_json`).
async fn rows(database: &TestDatabase) -> Vec<String> {
    let pool = warren_service_kit::postgres::pool(&database.as_admin()).unwrap();
    let client = pool.get().await.unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) \
             FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' \
             AND table_schema NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!tables.is_empty(), "{} has no tables", database.name);
    let mut rows = Vec::new();
    for table in tables {
        let sql = format!("SELECT row_to_json(t)::text FROM {table} t");
        for row in client.query(&sql, &[]).await.unwrap() {
            rows.push(format!("{table}: {}", row.get::<_, String>(0)));
        }
    }
    rows
}

/// Every document of every collection of the lockers database, as extended JSON.
async fn documents(database: &str) -> Vec<String> {
    let database = mongo_admin().await.database(database);
    let mut documents = Vec::new();
    for collection in database.list_collection_names().await.unwrap() {
        let mut cursor = database
            .collection::<mongodb::bson::Document>(&collection)
            .find(mongodb::bson::doc! {})
            .await
            .unwrap();
        while let Some(document) = cursor.try_next().await.unwrap() {
            let json = mongodb::bson::Bson::Document(document).into_relaxed_extjson();
            documents.push(format!("{collection}: {json}"));
        }
    }
    documents
}

/// Where `secret` is found among `places` (each a name and its text).
fn found_in<'a>(secret: &str, places: &'a [(String, String)]) -> Vec<&'a str> {
    places
        .iter()
        .filter(|(_, text)| text.contains(secret))
        .map(|(place, _)| place.as_str())
        .collect()
}

#[tokio::test]
async fn no_password_or_token_secret_is_logged_published_or_stored() {
    let wiring = Wiring::fresh(&[LOCKER_APP, USER_SERVICE, LOCKER_SERVICE]).await;
    let tap = Tap::new(wiring.vhost()).await;
    let logs = std::env::temp_dir().join(unique_name("passwords"));
    std::fs::create_dir_all(&logs).unwrap();
    let verbose = [
        ("WARREN_TELEMETRY__FILTER", "debug"),
        ("WARREN_TELEMETRY__FORMAT", "json"),
    ];
    let operator_password = known("operator");
    make_operator(&wiring, "op", &operator_password).await;
    let users = Logged::start(&wiring, USER_SERVICE, &verbose, &logs).await;
    let lockers = Logged::start(&wiring, LOCKER_SERVICE, &verbose, &logs).await;
    let app = Logged::start(&wiring, LOCKER_APP, &verbose, &logs).await;
    let base = app.url("");

    let password = known("member");
    let wrong = known("wrong");
    let ada = Person::new(
        &base,
        &format!("ada{}", &Uuid::new_v4().simple().to_string()[..8]),
    );
    let signed_up = ada.sign_up(&password).await;
    assert_eq!(signed_up["outcome"], "registered", "{signed_up}");
    ada.sign_in(&password).await;
    let guesser = Person::new(&base, &ada.name);
    let form = guesser
        .form(
            "/",
            "/sign-in",
            &[("name", &ada.name), ("password", &wrong)],
        )
        .await;
    let refused = guesser.post("/sign-in", &form).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let operator = Person::new(&base, "op");
    operator.sign_in(&operator_password).await;
    let token = operator.api_token("passwords").await;
    let api = reqwest::Client::new();
    let by_token = |path: &str, body: Value| {
        api.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let added = by_token("/api/lockers", json!({"code": "P-1", "location": "Hall P"}))
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::ACCEPTED);
    let added = added.headers()["location"].to_str().unwrap().to_owned();
    operator.outcome(added.trim_start_matches("/api")).await;
    let api_password = known("api-user");
    let registered = by_token(
        "/api/users",
        json!({"name": format!("{}-api", ada.name), "password": api_password}),
    )
    .await
    .unwrap();
    assert_eq!(registered.status(), StatusCode::ACCEPTED);
    let registered = registered.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let outcome = operator
        .outcome(registered.trim_start_matches("/api"))
        .await;
    assert_eq!(outcome["outcome"], "registered", "{outcome}");
    let request = ada.act("/", "/request", &[]).await;
    let outcome = ada.outcome(&request).await;
    assert_eq!(outcome["outcome"], "assigned", "{outcome}");

    // Everything each process wrote, to the end.
    let mut places: Vec<(String, String)> = Vec::new();
    for process in [app, lockers, users] {
        let log = process.log().display().to_string();
        places.push((log, process.stop().await));
    }
    for message in tap.take().await {
        let place = format!("message {}", message["routing_key"]);
        places.push((place, message.to_string()));
    }
    for database in [USERS_DB, ACCOUNTS_DB] {
        for row in rows(wiring.postgres(database)).await {
            places.push((format!("{} row", database.name), row));
        }
    }
    for document in documents(&wiring.mongo(LOCKERS_DB).database).await {
        places.push(("lockers document".to_owned(), document));
    }

    // The search covers what it should: verbose logs of every process, the messages (with the
    // registrations' hashes), and the stores (with the hashes of the passwords and the token).
    let logged = |name: &str| {
        places
            .iter()
            .filter(|(place, _)| place.ends_with(&format!("{name}.log")))
            .map(|(_, text)| text.lines().count())
            .sum::<usize>()
    };
    for service in [LOCKER_APP, USER_SERVICE, LOCKER_SERVICE] {
        assert!(
            logged(service.name) > 10,
            "{} logged almost nothing",
            service.name
        );
    }
    let debug = places
        .iter()
        .any(|(_, text)| text.contains("\"level\":\"DEBUG\""));
    assert!(debug, "no debug line was logged");
    let hashed = |place: &str| {
        places
            .iter()
            .filter(|(name, text)| name.starts_with(place) && text.contains("$argon2id$"))
            .count()
    };
    assert!(hashed("message") >= 2, "the registrations carry no hash");
    assert!(
        hashed("warren_users") >= 3,
        "the users table holds no hashes"
    );
    let token_hash: String = warren_store_accounts::hash(&token)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert!(
        !found_in(&token_hash, &places).is_empty(),
        "the token's hash is stored nowhere"
    );
    assert!(!found_in(&ada.name, &places).is_empty());

    for (what, secret) in [
        ("the member's password", &password),
        ("the wrong password", &wrong),
        ("the operator's password", &operator_password),
        ("the API user's password", &api_password),
        ("the API token", &token),
    ] {
        let found = found_in(secret, &places);
        assert!(found.is_empty(), "{what} is in {found:?}");
    }
    let _ = std::fs::remove_dir_all(&logs);
}
