//! The whole locker flow in headless Chromium, through the forms: add a locker, register,
//! request (while locker-service is down, so the page shows it pending and then updates by
//! itself), see the grid, release. Screenshots are saved under target/screenshots/.
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
async fn a_user_books_and_releases_a_locker_through_the_forms() {
    let mut system = system(true, true).await;
    let app = system.app.url("");
    let driver = Driver::start().await;
    let page = driver.session().await;

    page.open(&format!("{app}/lockers")).await;
    page.fill("input[name=code]", "b-01").await;
    page.fill("input[name=location]", "Hall B, by the stairs")
        .await;
    page.click("#add").await;
    shows(&page, "#outcome", "Locker B-01 was added.").await;
    page.screenshot("lockers-1-added").await;

    page.open(&format!("{app}/")).await;
    page.fill("input[name=name]", "ada").await;
    page.click("#look-up").await;
    shows(&page, "#state", "There is no user ada.").await;
    page.screenshot("lockers-2-no-such-user").await;
    page.click("#register").await;
    shows(&page, "#outcome", "ada is registered.").await;
    page.click("#continue").await;
    shows(&page, "#state", "ada has no locker.").await;
    page.screenshot("lockers-3-registered").await;

    // With locker-service down the request waits in its queue and the page says so...
    system.stop_locker_service().await;
    page.click("#request").await;
    shows(&page, "#outcome", "Pending").await;
    page.screenshot("lockers-4-pending").await;
    // ...and the same page shows the outcome, without a reload, once it has been served.
    system.start_locker_service().await;
    shows(&page, "#outcome", "ada got locker B-01.").await;
    page.screenshot("lockers-5-assigned").await;

    page.open(&format!("{app}/lockers")).await;
    shows(&page, "#lockers", "held by ada").await;
    page.screenshot("lockers-6-grid").await;

    page.open(&format!("{app}/?name=ada")).await;
    shows(&page, "#state", "ada holds locker B-01.").await;
    page.click("#release").await;
    shows(&page, "#outcome", "ada released locker B-01.").await;
    page.open(&format!("{app}/users")).await;
    shows(&page, "#users", "ada").await;
    page.screenshot("lockers-7-users").await;

    page.close().await;
    driver.stop();
    system.stop().await;
}
