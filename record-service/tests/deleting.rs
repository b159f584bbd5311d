//! Deleting a record needs an operator; recording stays open to anyone. Against the real broker
//! and PostgreSQL, with users, sessions and API tokens written as user-service and locker-app
//! write them: every refused Delete (page or API) publishes nothing, which a queue bound to the
//! records exchange that nobody consumes (the tap) shows exactly, and the record stays; an
//! operator's Delete goes through and names the operator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use warren_messages::topology::RECORDS;
use warren_service_kit::postgres::PostgresSettings;
use warren_store_accounts::{Role, SESSION_COOKIE};
use warren_testkit::web::{browser, hidden, page, says};
use warren_testkit::{Management, free_port};

use common::accounts::browser_signed_in;
use common::{System, system, system_configured};

/// A queue on the records exchange that nobody consumes: from its binding on, it holds every
/// record event published, so what it holds counts them exactly.
const TAP: &str = "test.records-tap";

async fn tap(vhost: &str) {
    Management::new()
        .post(
            "definitions",
            &json!({
                "queues": [{
                    "name": TAP, "vhost": vhost, "durable": true, "auto_delete": false,
                    "arguments": {}
                }],
                "bindings": [{
                    "source": RECORDS.name, "vhost": vhost, "destination": TAP,
                    "destination_type": "queue", "routing_key": "record.#", "arguments": {}
                }],
            }),
        )
        .await;
}

/// The envelopes on the tap, oldest first (read and put back).
async fn tapped(vhost: &str) -> Vec<Value> {
    let messages = Management::new()
        .post_json(
            &format!("queues/{vhost}/{TAP}/get"),
            &json!({ "count": 100, "ackmode": "ack_requeue_true", "encoding": "auto" }),
        )
        .await;
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|message| serde_json::from_str(message["payload"].as_str().unwrap()).unwrap())
        .collect()
}

/// Records the weather of `query` through the API, as anyone may; its record id.
async fn record(base: &str, query: &str) -> String {
    let shown: Value = reqwest::get(format!("{base}/api/search?{query}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = reqwest::Client::new()
        .post(format!("{base}/api/records"))
        .json(&shown["sealed"])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED, "recording is open");
    let created: Value = created.json().await.unwrap();
    created["record_id"].as_str().unwrap().to_owned()
}

/// The ids of the first page of records (all of them, here).
async fn record_ids(base: &str) -> Vec<String> {
    let list: Value = reqwest::get(format!("{base}/api/records"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = match list.get("items") {
        Some(items) => items.as_array().unwrap().clone(),
        None => list.as_array().unwrap().clone(),
    };
    records
        .iter()
        .map(|record| record["record_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The page's Delete of `record_id`, sent by `client` with a valid form token (from the search
/// page, which every visitor gets).
async fn delete_by_form(
    client: &reqwest::Client,
    base: &str,
    record_id: &str,
) -> reqwest::Response {
    let search = page(client, &format!("{base}/?city=Reykjavik")).await;
    let csrf = hidden(&search, "csrf").unwrap();
    client
        .post(format!("{base}/records/{record_id}/delete"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

/// `DELETE /api/records/<id>` with `bearer`, or with locker-app's session cookie `session`.
async fn delete_by_api(
    base: &str,
    record_id: &str,
    bearer: Option<&str>,
    session: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().delete(format!("{base}/api/records/{record_id}"));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(session) = session {
        request = request.header("cookie", format!("{SESSION_COOKIE}={session}"));
    }
    request.send().await.unwrap()
}

/// Asserts an API error: `status`, the one error shape with `code`.
async fn api_refused(response: reqwest::Response, status: StatusCode, code: &str, what: &str) {
    assert_eq!(response.status(), status, "{what}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

/// record-service with an operator `grace` and a member `ada`, and two records.
async fn with_people_and_records() -> (System, String, [String; 2]) {
    let system = system().await;
    let base = system.service.url("");
    system.accounts.user("grace", Role::Operator).await;
    system.accounts.user("ada", Role::Member).await;
    let reykjavik = record(&base, "city=Reykjavik").await;
    let paris = record(&base, "city=Paris&place=2988507").await;
    (system, base, [reykjavik, paris])
}

#[tokio::test]
async fn only_an_operator_deletes_and_a_refused_delete_publishes_nothing() {
    let (system, base, [reykjavik, paris]) = with_people_and_records().await;
    let accounts = &system.accounts;
    tap(&system.vhost).await;

    // The page's Delete.
    let nobody = delete_by_form(&browser(), &base, &reykjavik).await;
    says(
        nobody,
        StatusCode::UNAUTHORIZED,
        "sign in at locker-app as an operator",
    )
    .await;
    let member = browser_signed_in(&base, &accounts.session("ada").await);
    says(
        delete_by_form(&member, &base, &reykjavik).await,
        StatusCode::FORBIDDEN,
        "only an operator may delete records",
    )
    .await;
    let expired = browser_signed_in(&base, &accounts.expired_session("grace").await);
    assert_eq!(
        delete_by_form(&expired, &base, &reykjavik).await.status(),
        StatusCode::UNAUTHORIZED,
        "an ended session is nobody, even an operator's"
    );

    // The API.
    let api = |bearer: Option<String>, session: Option<String>| {
        let (base, reykjavik) = (base.clone(), reykjavik.clone());
        async move { delete_by_api(&base, &reykjavik, bearer.as_deref(), session.as_deref()).await }
    };
    let nobody = api(None, None).await;
    assert_eq!(nobody.headers()["www-authenticate"], "Bearer");
    api_refused(
        nobody,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "no credentials",
    )
    .await;
    let member_token = accounts.token("ada").await;
    api_refused(
        api(Some(member_token.clone()), None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "a member's token",
    )
    .await;
    api_refused(
        api(None, Some(accounts.session("ada").await)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "a member's session",
    )
    .await;
    api_refused(
        api(Some(accounts.revoked_token("grace").await), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "an operator's revoked token",
    )
    .await;
    api_refused(
        api(None, Some(accounts.expired_session("grace").await)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "an operator's ended session",
    )
    .await;
    api_refused(
        api(Some(format!("warren_{}", "A".repeat(43))), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a made-up token",
    )
    .await;
    api_refused(
        api(
            Some(accounts.revoked_token("grace").await),
            Some(accounts.session("grace").await),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a bad token beside an operator's cookie: the token decides",
    )
    .await;

    assert!(
        tapped(&system.vhost).await.is_empty(),
        "a refused delete published something"
    );
    assert_eq!(record_ids(&base).await.len(), 2, "both records stay");

    // A promotion counts at once: the member's own token now deletes.
    accounts.promote("ada").await;
    let promoted = api(Some(member_token), None).await;
    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(tapped(&system.vhost).await.len(), 1);
    assert_eq!(record_ids(&base).await, std::slice::from_ref(&paris));

    // An operator's session (the page) and token (the API).
    let operator = browser_signed_in(&base, &accounts.session("grace").await);
    let list = page(&operator, &format!("{base}/records")).await;
    assert!(list.contains("class=\"delete\""), "{list}");
    let csrf = hidden(&list, "csrf").unwrap();
    let deleted = operator
        .post(format!("{base}/records/{paris}/delete"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(record_ids(&base).await.is_empty());
    let again = delete_by_api(&base, &paris, Some(&accounts.token("grace").await), None).await;
    assert_eq!(again.status(), StatusCode::OK, "deleting is idempotent");

    let events = tapped(&system.vhost).await;
    let actors: Vec<&Value> = events
        .iter()
        .map(|event| &event["payload"]["actor"])
        .collect();
    assert_eq!(actors, [&json!("ada"), &json!("grace"), &json!("grace")]);
    let records = warren_service_kit::postgres::pool(&system.records).unwrap();
    let deleted_by: Option<String> = warren_testkit::sql_value(
        &records.get().await.unwrap(),
        "SELECT deleted_by FROM deleted_records WHERE record_id = $1::text::uuid",
        &[&paris],
    )
    .await;
    assert_eq!(deleted_by.as_deref(), Some("grace"));
    system.service.stop().await;
}

#[tokio::test]
async fn the_records_page_offers_delete_to_an_operator_only() {
    let (system, base, _) = with_people_and_records().await;
    let accounts = &system.accounts;
    let visitor = page(&browser(), &format!("{base}/records")).await;
    assert!(visitor.contains("Reykjavík"), "{visitor}");
    assert!(!visitor.contains("class=\"delete\""), "{visitor}");
    assert!(visitor.contains("only an operator may delete records"));
    let member = browser_signed_in(&base, &accounts.session("ada").await);
    let member = page(&member, &format!("{base}/records")).await;
    assert!(!member.contains("class=\"delete\""), "{member}");
    assert!(member.contains("ada is signed in as a member"), "{member}");
    let operator = browser_signed_in(&base, &accounts.session("grace").await);
    let operator = page(&operator, &format!("{base}/records")).await;
    assert_eq!(
        operator.matches("class=\"delete\"").count(),
        2,
        "{operator}"
    );
    assert!(operator.contains("Signed in as grace, an operator"));
    system.service.stop().await;
}

/// `settings` pointed at a port where no PostgreSQL listens.
fn unreachable(settings: &mut PostgresSettings, database: &str) {
    settings.url = SecretString::from(format!(
        "postgres://record_service@127.0.0.1:{}/{database}",
        free_port()
    ));
}

#[tokio::test]
async fn without_the_accounts_or_users_database_a_delete_is_503_and_publishes_nothing() {
    for down in ["accounts", "users"] {
        let system = system_configured(None, |settings| match down {
            "accounts" => unreachable(&mut settings.accounts, "warren_accounts"),
            _ => unreachable(&mut settings.users, "warren_users"),
        })
        .await;
        let base = system.service.url("");
        system.accounts.user("grace", Role::Operator).await;
        let reykjavik = record(&base, "city=Reykjavik").await;
        tap(&system.vhost).await;
        let session = system.accounts.session("grace").await;
        let token = system.accounts.token("grace").await;

        api_refused(
            delete_by_api(&base, &reykjavik, Some(&token), None).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            down,
        )
        .await;
        api_refused(
            delete_by_api(&base, &reykjavik, None, Some(&session)).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            down,
        )
        .await;
        let operator = browser_signed_in(&base, &session);
        says(
            delete_by_form(&operator, &base, &reykjavik).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot be checked right now",
        )
        .await;
        // Without credentials there is nothing to check: still a plain 401.
        api_refused(
            delete_by_api(&base, &reykjavik, None, None).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            down,
        )
        .await;
        // The list still shows, without Delete.
        let list = page(&operator, &format!("{base}/records")).await;
        assert!(list.contains("Reykjavík"), "{list}");
        assert!(!list.contains("class=\"delete\""), "{list}");
        assert!(list.contains("cannot be checked right now"), "{list}");

        assert!(tapped(&system.vhost).await.is_empty(), "{down}: published");
        assert_eq!(record_ids(&base).await, [reykjavik], "{down}");
        system.service.stop().await;
    }
}
