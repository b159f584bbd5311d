//! In headless Chromium: search a city, pick one of several places, press Record, and see the
//! record listed, also after a reload. Screenshots are saved under target/screenshots/.
#![allow(clippy::unwrap_used)]

mod common;

use common::system;
use warren_store_accounts::{Role, SESSION_COOKIE};
use warren_testkit::browser::Driver;

#[tokio::test]
async fn search_record_and_find_the_record_after_a_reload() {
    let system = system().await;
    let base = system.service.url("");
    let driver = Driver::start().await;
    let page = driver.session().await;

    page.open(&format!("{base}/")).await;
    page.fill("input[name=city]", "Paris").await;
    page.click("#search").await;
    page.shows("#places", "Paris, Texas, United States").await;
    page.screenshot("records-1-several-places").await;
    page.click("#places li:nth-child(2) a").await;
    page.shows("#place", "Paris, Texas, United States").await;
    page.shows("#temperature", "18.2 °C").await;
    page.shows("#condition", "Mainly clear").await;
    page.screenshot("records-2-weather").await;

    page.click("#record").await;
    page.shows("#notice", "Recorded.").await;
    page.shows("#records", "Paris, Texas, United States").await;
    page.screenshot("records-3-recorded").await;

    page.open(&format!("{base}/records")).await;
    page.shows("#records", "18.2 °C").await;
    page.shows("#records", "Mainly clear, local time 2026-11-22 12:45")
        .await;
    page.screenshot("records-4-after-reload").await;

    // Deleting needs an operator, signed in at locker-app on the same host.
    system.accounts.user("grace", Role::Operator).await;
    let session = system.accounts.session("grace").await;
    page.add_cookie(SESSION_COOKIE, &session).await;
    page.open(&format!("{base}/records")).await;
    page.shows("#who", "Signed in as grace, an operator").await;
    page.click(".record .delete").await;
    page.shows("#notice", "Deleted.").await;
    page.shows("#empty", "No records yet").await;
    page.screenshot("records-5-deleted").await;

    page.close().await;
    driver.stop();
    system.service.stop().await;
}
