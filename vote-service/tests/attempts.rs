//! A ballot is one attempt: its signed attempt id is the vote's message id, so sending it again
//! (a retry after an unknown outcome, a double click) is the same vote; an altered attempt id
//! is refused; and an unconfirmed vote is reported as what it is, unknown.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use warren_messages::topology::TALLY_VOTES;
use warren_testkit::proxy::{FaultProxy, Link};
use warren_testkit::web::{browser, hidden, says};
use warren_testkit::{Management, amqp_nodes, eventually};

mod common;

use common::{System, ballot, send, system, system_with};

fn message_ids(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|message| {
            message["properties"]["message_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn wait_for_depth(system: &System, at_least: u64) -> u64 {
    let management = Management::new();
    let depth = || management.queue_depth(&system.vhost, TALLY_VOTES.name);
    let reached = eventually(Duration::from_secs(15), || async {
        depth().await >= at_least
    })
    .await;
    let depth = depth().await;
    assert!(
        reached,
        "the votes queue holds {depth}, expected {at_least}"
    );
    depth
}

#[tokio::test]
async fn the_same_ballot_sent_twice_is_one_message_id_and_an_altered_attempt_is_refused() {
    let system = system(false).await;
    let client = browser();
    let ballot = ballot(&client, &system.vote).await;
    let again = common::ballot(&client, &system.vote).await;
    assert_ne!(
        ballot.attempt, again.attempt,
        "every page load gives a new attempt"
    );

    for _ in 0..2 {
        let response = send(&client, &system.vote, &ballot.form("a")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }

    // Altered: another id under the signature, the signature changed, another voter's ballot.
    let (id, signature) = ballot.attempt.split_once('.').unwrap();
    let (other_id, _) = again.attempt.split_once('.').unwrap();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    for altered in [
        format!("{other_id}.{signature}"),
        format!("{id}.{flipped}{}", &signature[1..]),
        id.to_owned(),
        "forged".to_owned(),
    ] {
        let mut form = ballot.form("a");
        form[2].1 = altered.clone();
        let response = send(&client, &system.vote, &form).await;
        says(response, StatusCode::FORBIDDEN, "the form was altered").await;
    }
    let stranger = browser();
    let theirs = common::ballot(&stranger, &system.vote).await;
    let mut form = theirs.form("a");
    form[2].1 = ballot.attempt.clone();
    assert_eq!(
        send(&stranger, &system.vote, &form).await.status(),
        StatusCode::FORBIDDEN
    );
    // The sent ballot with another choice would be deduplicated: refused, not claimed as sent.
    let changed = send(&client, &system.vote, &ballot.form("b")).await;
    says(
        changed,
        StatusCode::CONFLICT,
        "already sent with your vote for Cats",
    )
    .await;

    // Two messages, one message id (the attempt's) and one place in the voter's order;
    // nothing from the refused requests.
    assert_eq!(wait_for_depth(&system, 2).await, 2);
    let queued = system.queued().await;
    assert_eq!(
        message_ids(&queued),
        [ballot.message_id(), ballot.message_id()]
    );
    let sequences: BTreeSet<u64> = queued
        .iter()
        .map(|message| {
            let body: Value = serde_json::from_str(message["payload"].as_str().unwrap()).unwrap();
            body["payload"]["sequence"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(sequences.len(), 1, "{sequences:?}");
    system.vote.stop().await;
}

#[tokio::test]
async fn an_unconfirmed_vote_may_have_been_recorded_and_sending_it_again_is_the_same_vote() {
    let node = amqp_nodes()[0].trim_start_matches("amqp://").to_owned();
    let proxy = FaultProxy::start(node).await;
    let system = system_with(false, |settings| {
        settings.broker.nodes = vec![format!("amqp://{}", proxy.address())];
        settings.broker.confirm_timeout_ms = 1_500;
    })
    .await;
    // Another voter's vote opens the connection through the proxy.
    let other = browser();
    let warm = common::ballot(&other, &system.vote).await;
    assert_eq!(
        send(&other, &system.vote, &warm.form("b")).await.status(),
        StatusCode::SEE_OTHER
    );

    // The link goes silent: the vote reaches the proxy, the confirm never comes back in time.
    proxy.set(Link::Silent);
    let client = browser();
    let ballot = ballot(&client, &system.vote).await;
    let response = send(&client, &system.vote, &ballot.form("a")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("We could not confirm your vote for <strong>Cats</strong>")
            && page.contains("it may have been")
            && !page.contains("not recorded"),
        "{page}"
    );
    // The page offers the very same ballot again.
    assert_eq!(hidden(&page, "attempt").unwrap(), ballot.attempt);
    assert_eq!(hidden(&page, "csrf").unwrap(), ballot.csrf);

    proxy.set(Link::Clear);
    let retried = send(&client, &system.vote, &ballot.form("a")).await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);

    // The held vote was delivered too once the link cleared, and the retry is the same message.
    wait_for_depth(&system, 2).await;
    let ids: BTreeSet<String> = message_ids(&system.queued().await).into_iter().collect();
    assert_eq!(
        ids,
        BTreeSet::from([warm.message_id(), ballot.message_id()])
    );
    system.vote.stop().await;
}
