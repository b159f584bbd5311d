//! The weather recorder end to end: search, record, list, delete, through its pages and API,
//! against the real broker and PostgreSQL and a stand-in weather provider.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use warren_messages::Envelope;
use warren_messages::events::records::{Observation, WeatherRecorded};
use warren_messages::topology::RECORD_SERVICE_RECORDS;
use warren_testkit::web::{browser, hidden, page, says};
use warren_testkit::{Management, eventually, publisher_as};

use common::accounts::browser_signed_in;
use common::{System, nowhere, press_record, system, system_with};
use warren_store_accounts::Role;

/// Searches like the page does; returns the page and its status.
async fn search(client: &reqwest::Client, base: &str, query: &str) -> (StatusCode, String) {
    let response = client.get(format!("{base}/?{query}")).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// record-service with the stand-in provider, its base URL, and a browser.
async fn started() -> (System, String, reqwest::Client) {
    let system = system().await;
    let base = system.service.url("");
    (system, base, browser())
}

/// What the search API answers to `query`.
async fn api_search(base: &str, query: &str) -> Value {
    let response = reqwest::get(format!("{base}/api/search?{query}")).await;
    response.unwrap().json().await.unwrap()
}

/// The first page of records (all of them, in these tests).
async fn records(base: &str) -> Vec<Value> {
    let response = reqwest::get(format!("{base}/api/records")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["next"], Value::Null, "{page}");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_search_page_finds_one_place_offers_a_choice_or_says_not_found() {
    let (system, base, client) = started().await;

    let (status, page) = search(&client, &base, "city=Reykjavik").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Reykjavík, Capital Region, Iceland"),
        "{page}"
    );
    assert!(page.contains("-2.3 °C"));
    assert!(page.contains("Slight snow fall"));
    assert!(page.contains("2026-11-22 18:45"));
    assert!(page.contains("id=\"record\""));

    let (status, page) = search(&client, &base, "city=Paris").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Several places are called Paris"), "{page}");
    assert!(page.contains("Paris, Texas, United States"));
    assert!(
        !page.contains("id=\"record\""),
        "no weather before a place is picked"
    );
    let (_, texas) = search(&client, &base, "city=Paris&place=4717560").await;
    assert!(texas.contains("18.2 °C"), "{texas}");
    assert!(texas.contains("2026-11-22 12:45"));

    let (status, page) = search(&client, &base, "city=Atlantis").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("no place called Atlantis was found"),
        "{page}"
    );

    let api = api_search(&base, "city=Paris").await;
    assert_eq!(api["places"].as_array().unwrap().len(), 3);
    let missing = reqwest::get(format!("{base}/api/search?city=Atlantis"))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    system.service.stop().await;
}

#[tokio::test]
async fn a_provider_that_is_down_gets_a_clear_message_not_a_500() {
    let system = system_with(Some(nowhere())).await;
    let base = system.service.url("");
    let (status, page) = search(&browser(), &base, "city=Paris").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.contains("the weather service cannot be reached right now"),
        "{page}"
    );
    system.service.stop().await;
}

#[tokio::test]
async fn record_then_list_newest_first_then_delete() {
    let (system, base, client) = started().await;
    assert!(records(&base).await.is_empty());

    let (_, reykjavik) = search(&client, &base, "city=Reykjavik").await;
    let recorded = press_record(&client, &base, &reykjavik).await;
    assert_eq!(recorded.status(), StatusCode::SEE_OTHER);
    let location = recorded.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/records?recorded="));
    // The redirect comes once the record is in the list.
    let list = page(&client, &format!("{base}{location}")).await;
    assert!(list.contains("Recorded."), "{list}");
    assert!(list.contains("Reykjavík"));

    let (_, paris) = search(&client, &base, "city=Paris&place=2988507").await;
    assert_eq!(
        press_record(&client, &base, &paris).await.status(),
        StatusCode::SEE_OTHER
    );
    // Pressing Record again on the same page keeps one record.
    assert_eq!(
        press_record(&client, &base, &paris).await.status(),
        StatusCode::SEE_OTHER
    );
    let all = records(&base).await;
    let cities: Vec<&str> = all.iter().map(|r| r["city"].as_str().unwrap()).collect();
    assert_eq!(cities, ["Paris", "Reykjavík"], "newest first, one each");
    assert_eq!(all[0]["temperature_c"], 7.4);
    assert_eq!(all[0]["condition"], "Overcast");
    assert_eq!(all[0]["local_time"], "2026-11-22T19:45");
    assert_eq!(all[0]["region"], "Île-de-France");

    // Deleting needs an operator: signed in at locker-app (its session cookie), or with a token.
    system.accounts.user("grace", Role::Operator).await;
    let operator = browser_signed_in(&base, &system.accounts.session("grace").await);
    let list = page(&operator, &format!("{base}/records")).await;
    let paris_id = all[0]["record_id"].as_str().unwrap();
    let deleted = operator
        .post(format!("{base}/records/{paris_id}/delete"))
        .form(&[("csrf", hidden(&list, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    let after: Vec<Value> = records(&base).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["city"], "Reykjavík");

    // The JSON API: search, record, delete.
    let shown = api_search(&base, "city=Paris&place=4647963").await;
    let api = reqwest::Client::new();
    let created = api
        .post(format!("{base}/api/records"))
        .json(&shown["sealed"])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(records(&base).await[0]["region"], "Tennessee");
    let gone = api
        .delete(format!(
            "{base}/api/records/{}",
            created["record_id"].as_str().unwrap()
        ))
        .bearer_auth(system.accounts.token("grace").await)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::OK);
    assert_eq!(records(&base).await.len(), 1);
    system.service.stop().await;
}

#[tokio::test]
async fn record_cannot_publish_incomplete_or_altered_data_and_forms_need_their_token() {
    let (system, base, client) = started().await;
    let (_, page) = search(&client, &base, "city=Reykjavik").await;
    let csrf = hidden(&page, "csrf").unwrap();

    // Record before any search: no observation at all.
    let before = client
        .post(format!("{base}/records"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    says(before, StatusCode::BAD_REQUEST, "search for a city first").await;

    // The shown observation with the temperature changed.
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut observation: Observation = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(hidden(&page, "observation").unwrap())
            .unwrap(),
    )
    .unwrap();
    observation.temperature_c = 30.0;
    let altered = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&observation).unwrap());
    let response = client
        .post(format!("{base}/records"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("observation", altered.as_str()),
            ("sig", hidden(&page, "sig").unwrap().as_str()),
        ])
        .send()
        .await
        .unwrap();
    says(
        response,
        StatusCode::BAD_REQUEST,
        "not what this site showed",
    )
    .await;

    let forged = client
        .post(format!("{base}/records"))
        .form(&[
            ("csrf", "00".repeat(32).as_str()),
            (
                "observation",
                hidden(&page, "observation").unwrap().as_str(),
            ),
            ("sig", hidden(&page, "sig").unwrap().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let not_json = reqwest::Client::new()
        .post(format!("{base}/api/records"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(records(&base).await.is_empty(), "nothing was recorded");
    system.service.stop().await;
}

#[tokio::test]
async fn the_same_record_event_delivered_twice_is_stored_once() {
    let system = system().await;
    let base = system.service.url("");
    let (broker, publisher) = publisher_as("record-service", &system.vhost, "test-twice");
    let client = record_service::weather::WeatherClient::new(common::weather_settings(
        &system.stand_in.as_ref().unwrap().url,
        2_000,
    ))
    .unwrap();
    let place = client.search("Reykjavik").await.unwrap().remove(0);
    let event = Envelope::new(
        "record-service",
        WeatherRecorded {
            record_id: uuid::Uuid::now_v7(),
            observation: client.current(&place).await.unwrap(),
        },
    );
    publisher.publish(&event).await.unwrap();
    publisher.publish(&event).await.unwrap();
    // A third copy with a new message id but the same record: still one record.
    let mut copy = event.clone();
    copy.message_id = uuid::Uuid::now_v7();
    publisher.publish(&copy).await.unwrap();

    let management = Management::new();
    let drained = management
        .reaches_depth(
            &system.vhost,
            RECORD_SERVICE_RECORDS.name,
            0,
            Duration::from_secs(15),
        )
        .await;
    assert!(drained);
    let stored = eventually(Duration::from_secs(15), || async {
        records(&base).await.len() == 1
    })
    .await;
    assert!(stored);
    let all = records(&base).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        all[0]["record_id"].as_str().unwrap(),
        event.payload.record_id.to_string()
    );
    broker.close().await;
    system.service.stop().await;
}
