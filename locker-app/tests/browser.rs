//! The whole locker flow in headless Chromium, through the forms: add a locker, register,
//! request (while locker-service is down, so the page shows it pending and then updates by
//! itself), see the grid, release. Screenshots are saved under target/screenshots/.
#![allow(clippy::unwrap_used)]

mod common;

use common::system;
use warren_testkit::browser::Driver;

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
    page.shows("#outcome", "Locker B-01 was added.").await;
    page.screenshot("lockers-1-added").await;

    page.open(&format!("{app}/")).await;
    page.fill("input[name=name]", "ada").await;
    page.click("#look-up").await;
    page.shows("#state", "There is no user ada.").await;
    page.screenshot("lockers-2-no-such-user").await;
    page.fill("input[name=password]", "correct horse battery")
        .await;
    page.click("#register").await;
    page.shows("#outcome", "ada is registered.").await;
    page.click("#continue").await;
    page.shows("#state", "ada has no locker.").await;
    page.screenshot("lockers-3-registered").await;

    // With locker-service down the request waits in its queue and the page says so...
    system.stop_locker_service().await;
    page.click("#request").await;
    page.shows("#outcome", "Pending").await;
    page.screenshot("lockers-4-pending").await;
    // ...and the same page shows the outcome, without a reload, once it has been served.
    system.start_locker_service().await;
    page.shows("#outcome", "ada got locker B-01.").await;
    page.screenshot("lockers-5-assigned").await;

    page.open(&format!("{app}/lockers")).await;
    page.shows("#lockers", "held by ada").await;
    page.screenshot("lockers-6-grid").await;

    page.open(&format!("{app}/?name=ada")).await;
    page.shows("#state", "ada holds locker B-01.").await;
    page.click("#release").await;
    page.shows("#outcome", "ada released locker B-01.").await;
    page.open(&format!("{app}/users")).await;
    page.shows("#users", "ada").await;
    page.screenshot("lockers-7-users").await;

    page.close().await;
    driver.stop();
    system.stop().await;
}
