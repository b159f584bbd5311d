//! `warren-probe`, the containers' healthcheck: 0 for a 2xx answer, 1 for any other answer or
//! none.

use std::process::Command;

use warp::Filter;
use warp::http::StatusCode;

fn probe(port: u16, path: &str) -> Option<i32> {
    Command::new(env!("CARGO_BIN_EXE_warren-probe"))
        .args([port.to_string(), path.to_owned()])
        .output()
        .expect("warren-probe runs")
        .status
        .code()
}

#[tokio::test]
async fn the_probe_passes_only_a_successful_answer() {
    let routes = warp::path!("readyz")
        .map(|| StatusCode::OK)
        .or(warp::path!("failing").map(|| StatusCode::SERVICE_UNAVAILABLE));
    let (listener, port) = warren_testkit::local_listener().await;
    tokio::spawn(warp::serve(routes).incoming(listener).run());

    let (ready, failing, missing) = tokio::task::spawn_blocking(move || {
        (
            probe(port, "/readyz"),
            probe(port, "/failing"),
            probe(port, "/nothing-here"),
        )
    })
    .await
    .unwrap();
    assert_eq!(ready, Some(0));
    assert_eq!(failing, Some(1));
    assert_eq!(missing, Some(1));

    let nobody = warren_testkit::free_port();
    assert_eq!(probe(nobody, "/readyz"), Some(1));
}
