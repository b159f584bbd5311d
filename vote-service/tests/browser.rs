//! In headless Chromium: vote in one window, and the results page open in another updates
//! without a reload. Screenshots are saved under target/screenshots/.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

mod common;

use common::{system, system_with};
use warren_testkit::browser::Driver;
use warren_testkit::eventually;

#[tokio::test]
async fn the_results_page_updates_live_when_a_vote_is_cast_in_another_window() {
    let system = system(true).await;
    let vote = &system.vote;

    let driver = Driver::start().await;
    let results = driver.session().await;
    results.open(&vote.url("/results")).await;
    assert_eq!(results.text("#summary").await, "No votes yet");
    results.screenshot("votes-1-results-empty").await;

    let voter = driver.session().await;
    voter.open(&vote.url("/")).await;
    voter.screenshot("votes-2-ballot").await;
    voter.click("button[value=a]").await;
    let recorded = eventually(Duration::from_secs(10), || async {
        voter.text("#choice").await.contains("Cats")
    })
    .await;
    assert!(recorded, "the ballot did not show the recorded vote");
    voter.screenshot("votes-3-voted").await;

    // The results window was never reloaded: the update arrived over server-sent events.
    let updated = eventually(Duration::from_secs(15), || async {
        results.text("#summary").await == "1 vote"
    })
    .await;
    assert!(
        updated,
        "results still show {:?}",
        results.text("#summary").await
    );
    assert_eq!(results.text(".option[data-key=a] .votes").await, "1");
    results.screenshot("votes-4-results-live").await;

    voter.close().await;
    results.close().await;
    driver.stop();
    system.vote.stop().await;
    system.worker.unwrap().stop().await;
}

#[tokio::test]
async fn with_no_room_for_a_stream_the_results_page_reloads_itself_instead() {
    let system = system_with(true, |settings| settings.results.max_streams = 0).await;
    let vote = &system.vote;

    let driver = Driver::start().await;
    let results = driver.session().await;
    results.open(&vote.url("/results")).await;
    assert_eq!(results.text("#summary").await, "No votes yet");
    let told = eventually(Duration::from_secs(10), || async {
        results
            .text("#live")
            .await
            .contains("reloads every 5 seconds")
    })
    .await;
    assert!(
        told,
        "the page does not say it reloads: {:?}",
        results.text("#live").await
    );
    results.screenshot("votes-5-results-reloading").await;

    let client = warren_testkit::web::browser();
    let shown = common::ballot(&client, vote).await;
    let voted = common::send(&client, vote, &shown.form("b")).await;
    assert_eq!(voted.status(), reqwest::StatusCode::SEE_OTHER);

    // No stream could be had: the vote shows up through a reload.
    let updated = eventually(Duration::from_secs(20), || async {
        results.text("#summary").await == "1 vote"
    })
    .await;
    assert!(
        updated,
        "results still show {:?}",
        results.text("#summary").await
    );
    assert_eq!(results.text(".option[data-key=b] .votes").await, "1");

    results.close().await;
    driver.stop();
    system.vote.stop().await;
    system.worker.unwrap().stop().await;
}
