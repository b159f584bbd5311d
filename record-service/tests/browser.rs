//! In headless Chromium: search a city, pick one of several places, press Record, and see the
//! record listed, also after a reload. Screenshots are saved under target/screenshots/.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

mod common;

use common::system;
use warren_testkit::browser::{Driver, Session};
use warren_testkit::eventually;

async fn shows(page: &Session, selector: &str, expected: &str) {
    let shown = eventually(Duration::from_secs(20), || async {
        page.text(selector).await.contains(expected)
    })
    .await;
    assert!(
        shown,
        "{selector} shows {:?}, not {expected:?}",
        page.text(selector).await
    );
}

#[tokio::test]
async fn search_record_and_find_the_record_after_a_reload() {
    let system = system().await;
    let base = system.service.url("");
    let driver = Driver::start().await;
    let page = driver.session().await;

    page.open(&format!("{base}/")).await;
    page.fill("input[name=city]", "Paris").await;
    page.click("#search").await;
    shows(&page, "#places", "Paris, Texas, United States").await;
    page.screenshot("records-1-several-places").await;
    page.click("#places li:nth-child(2) a").await;
    shows(&page, "#place", "Paris, Texas, United States").await;
    shows(&page, "#temperature", "18.2 °C").await;
    shows(&page, "#condition", "Mainly clear").await;
    page.screenshot("records-2-weather").await;

    page.click("#record").await;
    shows(&page, "#notice", "Recorded.").await;
    shows(&page, "#records", "Paris, Texas, United States").await;
    page.screenshot("records-3-recorded").await;

    page.open(&format!("{base}/records")).await;
    shows(&page, "#records", "18.2 °C").await;
    shows(
        &page,
        "#records",
        "Mainly clear, local time 2026-11-22 12:45",
    )
    .await;
    page.screenshot("records-4-after-reload").await;

    page.click(".record .delete").await;
    shows(&page, "#notice", "Deleted.").await;
    shows(&page, "#empty", "No records yet").await;
    page.screenshot("records-5-deleted").await;

    page.close().await;
    driver.stop();
    system.service.stop().await;
}
