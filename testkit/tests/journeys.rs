//! One event followed across services: the services run as processes logging JSON to files, as
//! scripts/up runs them; a vote and a locker request are made through the web forms, and
//! `scripts/trace` must rebuild each one's journey from those logs alone, in time order: the
//! request, the publish and its confirm, each consumer's receipt and commit, the events it
//! caused (through user-service's outbox and locker-service), and the read of the outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use warren_manifest::{LOCKER_APP, LOCKER_SERVICE, TALLY_WORKER, USER_SERVICE, VOTE_SERVICE};
use warren_testkit::accounts::{Logged, Person};
use warren_testkit::services::Wiring;
use warren_testkit::web::{browser, hidden, page};
use warren_testkit::{eventually, unique_name};

/// One line of a journey: the service that wrote it and its step, as `scripts/trace` prints.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    service: String,
    step: String,
    record: Value,
}

/// `scripts/trace --json <id>` over the logs in `logs`: the journey's lines, in its order.
fn trace(logs: &Path, id: &str) -> (Vec<Step>, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(root.join("scripts/trace"))
            .arg("--logs")
            .arg(logs)
            .args(extra)
            .arg(id)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let steps = run(&["--json"])
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            Step {
                service: record["service"].as_str().unwrap_or_default().to_owned(),
                step: record["stage"].as_str().unwrap_or("log").to_owned(),
                record,
            }
        })
        .collect();
    (steps, run(&[]))
}

/// Waits until the journey of `id` has a `stage` line from `service`; returns the journey.
async fn journey_until(logs: &Path, id: &str, service: &str, stage: &str) -> (Vec<Step>, String) {
    let reached = eventually(Duration::from_secs(30), || async {
        trace(logs, id)
            .0
            .iter()
            .any(|step| step.service == service && step.step == stage)
    })
    .await;
    let journey = trace(logs, id);
    assert!(
        reached,
        "the journey of {id} never reached {service}'s {stage}:\n{}",
        journey.1
    );
    journey
}

/// Asserts that each chain of (service, stage) pairs appears in `journey` in its order (other
/// lines may come between), and that the journey is in time order. Chains, not one sequence:
/// what happens on different services at about the same time has no order of its own (a
/// consumer may receive a message before its publisher has the confirm).
fn assert_in_order(journey: &(Vec<Step>, String), chains: &[&[(&str, &str)]]) {
    let (steps, printed) = journey;
    for chain in chains {
        let mut at = 0;
        for (service, stage) in *chain {
            match steps[at..]
                .iter()
                .position(|step| step.service == *service && step.step == *stage)
            {
                Some(found) => at += found + 1,
                None => panic!(
                    "no {service} {stage} after line {at} of the journey; expected {chain:?} in \
                     this order:\n{printed}"
                ),
            }
        }
    }
    let times: Vec<&str> = printed
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap_or_default())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(
        times, sorted,
        "the journey is not in time order:\n{printed}"
    );
}

fn logs_dir(what: &str) -> std::path::PathBuf {
    let logs = std::env::temp_dir().join(unique_name(what));
    std::fs::create_dir_all(&logs).unwrap();
    logs
}

#[tokio::test]
async fn a_vote_is_followed_from_its_request_to_the_tally() {
    let wiring = Wiring::fresh(&[VOTE_SERVICE, TALLY_WORKER]).await;
    let logs = logs_dir("journey-vote");
    let worker = Logged::start(&wiring, TALLY_WORKER, &[], &logs).await;
    let votes = Logged::start(&wiring, VOTE_SERVICE, &[], &logs).await;
    let client = browser();
    let ballot = page(&client, &votes.url("/")).await;
    let form = [
        ("vote", "a".to_owned()),
        ("csrf", hidden(&ballot, "csrf").unwrap()),
        ("attempt", hidden(&ballot, "attempt").unwrap()),
    ];
    // The request id a proxy in front would give; the answer carries it back.
    let request_id = format!("journey-{}", Uuid::new_v4().simple());
    let response = client
        .post(votes.url("/vote"))
        .header("x-request-id", &request_id)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());

    let journey = journey_until(&logs, &request_id, "tally-worker", "commit").await;
    assert_in_order(
        &journey,
        &[
            &[
                ("vote-service", "request"),
                ("vote-service", "publish"),
                ("vote-service", "confirm"),
            ],
            &[
                ("vote-service", "publish"),
                ("tally-worker", "consume"),
                ("tally-worker", "commit"),
            ],
        ],
    );
    // Every line is this vote's: its request, or its message (the attempt id, whose first part
    // is the message id).
    let attempt = hidden(&ballot, "attempt").unwrap();
    let message_id = Uuid::parse_str(attempt.split('.').next().unwrap())
        .unwrap()
        .to_string();
    assert!(
        journey
            .0
            .iter()
            .any(|step| step.step == "publish" && step.record["message_id"] == message_id.as_str()),
        "the vote's message is not in its journey:\n{}",
        journey.1
    );
    for step in &journey.0 {
        let text = step.record.to_string();
        assert!(
            text.contains(&request_id) || text.contains(&message_id),
            "a line of another journey: {text}"
        );
    }
    // The same journey from the message id, and from a line's correlation id.
    assert_eq!(trace(&logs, &message_id).0, journey.0);

    // A request that came without an id is given one, and traced by it.
    let ballot = page(&client, &votes.url("/")).await;
    let form = [
        ("vote", "b".to_owned()),
        ("csrf", hidden(&ballot, "csrf").unwrap()),
        ("attempt", hidden(&ballot, "attempt").unwrap()),
    ];
    let response = client
        .post(votes.url("/vote"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let given = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(Uuid::parse_str(&given).is_ok(), "{given}");
    let second = journey_until(&logs, &given, "tally-worker", "commit").await;
    assert!(
        !second.1.contains(&request_id),
        "the second vote's journey has the first's lines:\n{}",
        second.1
    );
    votes.stop().await;
    worker.stop().await;
}

#[tokio::test]
async fn a_locker_request_is_followed_through_the_outbox_and_locker_service() {
    let wiring = Wiring::fresh(&[LOCKER_APP, USER_SERVICE, LOCKER_SERVICE]).await;
    let logs = logs_dir("journey-locker");
    let users = Logged::start(&wiring, USER_SERVICE, &[], &logs).await;
    let lockers = Logged::start(&wiring, LOCKER_SERVICE, &[], &logs).await;
    let app = Logged::start(&wiring, LOCKER_APP, &[], &logs).await;
    let base = app.url("");
    let operator = Person::operator(&wiring, &base, "op").await;
    let token = operator.api_token("journeys").await;
    let added = reqwest::Client::new()
        .post(format!("{base}/api/lockers"))
        .bearer_auth(&token)
        .json(&json!({"code": "J-1", "location": "Hall J"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::ACCEPTED);
    let added = added.headers()["location"].to_str().unwrap().to_owned();
    operator.outcome(added.trim_start_matches("/api")).await;
    let ada = Person::join(
        &base,
        &format!("ada{}", &Uuid::new_v4().simple().to_string()[..8]),
    )
    .await;

    let status_page = ada.act("/", "/request", &[]).await;
    let outcome = ada.outcome(&status_page).await;
    assert_eq!(outcome["outcome"], "assigned", "{outcome}");
    // The status page's id is the request's: the correlation id of every event it caused.
    let request = status_page
        .trim_start_matches("/requests/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    let journey = journey_until(&logs, &request, "locker-app", "read").await;
    assert_in_order(
        &journey,
        &[
            &[
                ("locker-app", "request"),
                ("locker-app", "publish"),
                ("locker-app", "confirm"),
            ],
            &[
                ("locker-app", "publish"),
                ("user-service", "consume"),
                ("user-service", "commit"),
            ],
            // From user-service's outbox: the locker wanted, as locker-service's request.
            &[
                ("user-service", "consume"),
                ("user-service", "publish"),
                ("user-service", "confirm"),
            ],
            &[
                ("user-service", "publish"),
                ("locker-service", "consume"),
                ("locker-service", "publish"),
                ("locker-service", "confirm"),
            ],
            &[("locker-service", "consume"), ("locker-service", "commit")],
            // The outcome, into user-service's request log, and read from there by locker-app.
            &[
                ("locker-service", "publish"),
                ("user-service", "consume"),
                ("user-service", "commit"),
            ],
            &[
                ("locker-service", "publish"),
                ("user-service", "consume"),
                ("locker-app", "read"),
            ],
        ],
    );
    // The outbox's and locker-service's events were caused by the ones before them.
    let caused: Vec<&Step> = journey
        .0
        .iter()
        .filter(|step| step.step == "publish" && step.service != "locker-app")
        .collect();
    assert!(caused.len() >= 2, "{}", journey.1);
    for step in caused {
        assert!(
            step.record["causation_id"].is_string(),
            "an outcome event without its cause: {}",
            step.record
        );
        assert_eq!(step.record["correlation_id"], request.as_str());
    }
    // Nothing of the operator's locker or of ada's sign-up is in it.
    let added_id = added
        .trim_start_matches("/api/requests/")
        .split('?')
        .next()
        .unwrap();
    assert!(!journey.1.contains(added_id), "{}", journey.1);
    app.stop().await;
    lockers.stop().await;
    users.stop().await;
}
