//! vote-service and tally-worker together, over HTTP, against the real cluster and PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::Value;
use warren_messages::topology::TALLY_VOTES;
use warren_testkit::web::{browser, page, says};
use warren_testkit::{Management, eventually};

mod common;

use common::{Ballot, System, ballot, system, system_with};

async fn vote(client: &Client, system: &System, option: &str, token: &str) -> reqwest::Response {
    client
        .post(system.vote.url("/vote"))
        .form(&[("vote", option), ("csrf", token)])
        .send()
        .await
        .unwrap()
}

async fn results(system: &System) -> Value {
    reqwest::get(system.vote.url("/api/results"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_for_votes(system: &System, expected: &[i64]) {
    let reached = eventually(Duration::from_secs(20), || async {
        let tally = results(system).await;
        tally["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["votes"].as_i64().unwrap())
            .collect::<Vec<_>>()
            == expected
    })
    .await;
    assert!(
        reached,
        "results {}, expected votes {expected:?}",
        results(system).await
    );
}

#[tokio::test]
async fn a_vote_appears_in_the_results_and_changing_it_moves_the_count() {
    let system = system(true).await;
    let empty = page(&browser(), &system.vote.url("/results")).await;
    assert!(
        empty.contains("No votes yet") && empty.contains("Cats") && empty.contains("Dogs"),
        "{empty}"
    );
    let empty_api = results(&system).await;
    assert_eq!(empty_api["total"], 0);
    assert_eq!(
        empty_api["options"][0]["percent"], 0.0,
        "no 50/50 when nobody voted"
    );

    let client = browser();
    let Ballot {
        csrf: token,
        page: shown,
        ..
    } = ballot(&client, &system.vote).await;
    assert!(shown.contains("Cats or dogs?") && shown.contains("Processed by container"));
    let response = vote(&client, &system, "a", &token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    wait_for_votes(&system, &[1, 0]).await;
    let shown = ballot(&client, &system.vote).await.page;
    assert!(
        shown.contains("Your vote for <strong>Cats</strong> was recorded"),
        "{shown}"
    );

    let response = vote(&client, &system, "b", &token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    wait_for_votes(&system, &[0, 1]).await;
    let summary = page(&browser(), &system.vote.url("/results")).await;
    assert!(
        summary.contains("1 vote") && summary.contains("100"),
        "{summary}"
    );
    system.vote.stop().await;
    system.worker.unwrap().stop().await;
}

#[tokio::test]
async fn the_live_results_stream_pushes_a_new_tally_when_a_vote_lands() {
    let system = system(true).await;
    let mut stream = reqwest::get(system.vote.url("/results/stream"))
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut received = String::new();
    let mut next_event = async || -> Value {
        loop {
            if let Some(end) = received.find("\n\n") {
                let event: String = received.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|line| line.strip_prefix("data:")) {
                    return serde_json::from_str(data.trim()).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), stream.chunk())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            received.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    let first = next_event().await;
    assert_eq!(first["total"], 0);
    let client = browser();
    let token = ballot(&client, &system.vote).await.csrf;
    assert_eq!(
        vote(&client, &system, "b", &token).await.status(),
        StatusCode::SEE_OTHER
    );
    // The very next event is the changed tally: nothing is pushed while it stays the same.
    let second = next_event().await;
    assert_eq!(second["total"], 1, "{second}");
    assert_eq!(second["options"][1]["votes"], 1);
    system.vote.stop().await;
    system.worker.unwrap().stop().await;
}

#[tokio::test]
async fn bad_requests_get_a_clear_4xx_and_publish_nothing() {
    let system = system(false).await;
    let client = browser();
    let token = ballot(&client, &system.vote).await.csrf;
    let url = system.vote.url("/vote");

    let unknown = vote(&client, &system, "z", &token).await;
    says(
        unknown,
        StatusCode::BAD_REQUEST,
        "is not an option of this poll",
    )
    .await;

    let missing = client
        .post(&url)
        .form(&[("vote", "a")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let forged = vote(&client, &system, "a", &"0".repeat(64)).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let stranger = browser(); // another voter's cookie with this voter's token
    ballot(&stranger, &system.vote).await;
    assert_eq!(
        vote(&stranger, &system, "a", &token).await.status(),
        StatusCode::FORBIDDEN
    );

    let foreign = client
        .post(&url)
        .header("origin", "http://evil.example")
        .form(&[("vote", "a"), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    says(
        foreign,
        StatusCode::FORBIDDEN,
        "only be sent from this site",
    )
    .await;

    let oversized = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("vote=a&csrf={token}&pad={}", "x".repeat(10_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let json = client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"vote\":\"a\",\"csrf\":\"{token}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Every refusal happened before publishing: the queue (no consumer running) is empty,
    // while a valid vote from the same client does arrive there.
    let management = Management::new();
    assert_eq!(
        management
            .queue_depth(&system.vhost, TALLY_VOTES.name)
            .await,
        0
    );
    assert_eq!(
        vote(&client, &system, "a", &token).await.status(),
        StatusCode::SEE_OTHER
    );
    let arrived = management
        .reaches_depth(&system.vhost, TALLY_VOTES.name, 1, Duration::from_secs(15))
        .await;
    assert!(arrived, "the valid vote did not reach the queue");
    system.vote.stop().await;
}

#[tokio::test]
async fn with_the_broker_unreachable_a_vote_is_reported_as_not_recorded() {
    // Nothing listens here: every connection attempt is refused at once, so the vote certainly
    // never reached the broker, and the page may say that it was not recorded.
    let system = system_with(false, |settings| {
        settings.broker.nodes = vec!["amqp://127.0.0.1:9".to_owned()];
    })
    .await;
    let client = browser();
    let token = ballot(&client, &system.vote).await.csrf;
    let response = vote(&client, &system, "a", &token).await;
    says(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "your vote was not recorded",
    )
    .await;
    system.vote.stop().await;
}
