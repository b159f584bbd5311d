//! A stuck tally: with tally-worker stopped, the votes queue fills to its bound and a vote is
//! answered "busy, try again" (503 with `Retry-After`), not queued without end; once the worker
//! runs again every vote that was confirmed is counted.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::StatusCode;
use warren_messages::topology::{QueueBounds, TALLY_VOTES};
use warren_service_kit::postgres;
use warren_service_kit::web::BUSY_RETRY_AFTER_SECS;
use warren_testkit::web::browser;
use warren_testkit::{eventually, sql_value, vhost_bounded};

mod common;

use common::{ballot, send, system_on};

#[tokio::test]
async fn with_the_tally_stopped_a_full_queue_answers_busy_and_every_confirmed_vote_is_counted() {
    let bound = 3;
    let vhost = vhost_bounded(
        &[TALLY_VOTES],
        QueueBounds {
            consumer_queue: bound,
            dead_letter_queue: bound,
        },
    )
    .await;
    let mut system = system_on(vhost, false, |_| {}).await;

    // One voter after another until the broker refuses a vote.
    let mut recorded = 0_i64;
    let refused = loop {
        assert!(
            recorded <= 20,
            "{recorded} votes recorded: the queue is not bounded"
        );
        let client = browser();
        let ballot = ballot(&client, &system.vote).await;
        let response = send(&client, &system.vote, &ballot.form("a")).await;
        match response.status() {
            StatusCode::SEE_OTHER => recorded += 1,
            StatusCode::SERVICE_UNAVAILABLE => break response,
            other => panic!(
                "a vote answered {other}: {}",
                response.text().await.unwrap()
            ),
        }
    };
    assert!(
        recorded >= i64::from(bound),
        "refused after {recorded} votes"
    );
    let retry_after = refused.headers().get("retry-after").cloned();
    let page = refused.text().await.unwrap();
    assert_eq!(
        retry_after.and_then(|value| value.to_str().ok().map(str::to_owned)),
        Some(BUSY_RETRY_AFTER_SECS.to_string()),
        "{page}"
    );
    assert!(
        page.contains("busy") && page.contains("not recorded") && page.contains("try again"),
        "{page}"
    );

    system.start_worker().await;
    let pool = postgres::pool(&system.database).unwrap();
    let counted = eventually(Duration::from_secs(30), || async {
        let client = pool.get().await.unwrap();
        sql_value::<i64>(&client, "SELECT count(*) FROM votes", &[]).await == recorded
    })
    .await;
    assert!(
        counted,
        "not every one of the {recorded} confirmed votes was counted"
    );
    system.vote.stop().await;
}
