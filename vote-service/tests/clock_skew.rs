//! Two vote-service instances whose clocks disagree by 20 s: a voter going back and forth
//! between them ends with their last confirmed vote counted, because a voter's votes are
//! ordered by what the voter carries, not by the clock of the instance that took each.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::StatusCode;
use warren_service_kit::postgres;
use warren_testkit::eventually;
use warren_testkit::web::browser;

mod common;

use common::{ballot, send, system_with};

#[tokio::test]
async fn a_voter_alternating_between_skewed_instances_ends_with_their_last_vote() {
    let system = system_with(true, |settings| settings.clock.offset_ms = 10_000).await;
    let behind = system
        .another_instance(|settings| settings.clock.offset_ms = -10_000)
        .await;
    let voter = browser();
    let mut sent = Vec::new();
    // Ahead, behind, ahead, ...: the last vote (Dogs) is taken by the instance 20 s behind.
    for round in 0..6 {
        let (instance, option) = if round % 2 == 0 {
            (&system.vote, "a")
        } else {
            (&behind, "b")
        };
        let ballot = ballot(&voter, instance).await;
        let response = send(&voter, instance, &ballot.form(option)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "round {round}");
        sent.push(ballot.message_id());
    }

    let pool = postgres::pool(&system.database).unwrap();
    let applied = eventually(Duration::from_secs(20), || async {
        let client = pool.get().await.unwrap();
        let row = client
            .query_one(
                "SELECT count(*) FROM applied_messages WHERE message_id::text = ANY($1)",
                &[&sent],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0) == sent.len() as i64
    })
    .await;
    assert!(applied, "tally-worker did not apply the six votes");
    let client = pool.get().await.unwrap();
    let rows = client
        .query("SELECT option, message_id::text FROM votes", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(0), "b", "the last vote lost");
    assert_eq!(rows[0].get::<_, &str>(1), sent.last().unwrap().as_str());
    behind.stop().await;
    system.vote.stop().await;
    system.worker.unwrap().stop().await;
}
