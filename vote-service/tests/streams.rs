//! The live results streams are capped: past `results.max_streams` a stream is refused with 503
//! and Retry-After, a closed one makes room, and /metrics shows how many are open. Alone in its
//! test binary, since the gauge is the process's.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::StatusCode;
use warren_testkit::eventually;

mod common;

use common::system_with;

/// The open-streams gauge as /metrics renders it.
fn streams_open() -> f64 {
    let text = warren_service_kit::ops::metrics_handle().render();
    text.lines()
        .find_map(|line| line.strip_prefix("warren_results_streams_open "))
        .map_or(-1.0, |value| value.trim().parse().unwrap())
}

async fn open_stream(url: &str) -> reqwest::Response {
    reqwest::Client::new().get(url).send().await.unwrap()
}

#[tokio::test]
async fn past_the_cap_a_stream_is_503_and_a_closed_one_makes_room() {
    let system = system_with(false, |settings| settings.results.max_streams = 2).await;
    let url = system.vote.url("/results/stream");

    let first = open_stream(&url).await;
    let second = open_stream(&url).await;
    for stream in [&first, &second] {
        assert_eq!(stream.status(), StatusCode::OK);
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
    }
    assert_eq!(streams_open(), 2.0);

    let refused = open_stream(&url).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "5");
    let text = refused.text().await.unwrap();
    assert!(text.contains("too many live results pages"), "{text}");
    assert_eq!(streams_open(), 2.0);

    // The browser goes away: its place is free again once the server sees it gone.
    drop(first);
    let third = std::sync::Arc::new(std::sync::Mutex::new(None));
    let accepted = eventually(Duration::from_secs(30), || {
        let url = url.clone();
        let third = third.clone();
        async move {
            let stream = open_stream(&url).await;
            let ok = stream.status() == StatusCode::OK;
            if ok {
                *third.lock().unwrap() = Some(stream);
            }
            ok
        }
    })
    .await;
    assert!(accepted, "no stream accepted after one closed");
    assert_eq!(streams_open(), 2.0);

    drop(second);
    drop(third);
    let closed = eventually(Duration::from_secs(30), || async { streams_open() == 0.0 }).await;
    assert!(closed, "streams open: {}", streams_open());
    system.vote.stop().await;
}
