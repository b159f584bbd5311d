//! Issue 15's acceptance test in headless Chromium, through the forms: a member signs up, signs
//! in, requests a locker (while locker-service is down, so the page shows it pending and then
//! updates by itself), releases it and signs out; a second member sees only their own account,
//! and a hand-made POST for the first member is refused and publishes nothing; an operator
//! adds lockers and deletes a member. Screenshots are saved under target/screenshots/.
#![allow(clippy::unwrap_used)]

mod common;

use reqwest::StatusCode;
use warren_messages::topology::USER_SERVICE_USERS;
use warren_testkit::accounts::Person;
use warren_testkit::browser::{Driver, Session};
use warren_testkit::web::says;

use common::{OPERATOR, PASSWORD, form_fields, queued, system};

async fn sign_up(page: &Session, app: &str, name: &str) {
    page.open(&format!("{app}/")).await;
    page.fill("#sign-up-name", name).await;
    page.fill("#sign-up-password", PASSWORD).await;
    page.click("#register").await;
    page.shows("#outcome", &format!("{name} is registered."))
        .await;
}

async fn sign_in(page: &Session, app: &str, name: &str) {
    page.open(&format!("{app}/")).await;
    page.fill("#sign-in-name", name).await;
    page.fill("#sign-in-password", PASSWORD).await;
    page.click("#sign-in").await;
    page.shows("#signed-in-as", &format!("Signed in as {name}"))
        .await;
}

async fn add_locker(page: &Session, app: &str, code: &str, added: &str) {
    page.open(&format!("{app}/lockers")).await;
    page.fill("input[name=code]", code).await;
    page.fill("input[name=location]", "Hall B, by the stairs")
        .await;
    page.click("#add").await;
    page.shows(
        "#outcome",
        &format!("Locker {added} was added. (Asked by {OPERATOR}.)"),
    )
    .await;
}

#[tokio::test]
async fn members_act_for_themselves_only_and_an_operator_runs_the_lockers() {
    let mut system = system(true, true).await;
    let app = system.app.url("");
    system.make_operator(OPERATOR).await;
    let driver = Driver::start().await;

    // The operator signs in and adds a locker.
    let olga = driver.session().await;
    sign_in(&olga, &app, OPERATOR).await;
    olga.shows("#signed-in-as", "(operator)").await;
    add_locker(&olga, &app, "b-01", "B-01").await;
    olga.screenshot("lockers-1-added").await;

    // ada signs up, then signs in.
    let ada = driver.session().await;
    sign_up(&ada, &app, "ada").await;
    ada.screenshot("lockers-2-signed-up").await;
    sign_in(&ada, &app, "ada").await;
    ada.shows("#state", "You hold no locker.").await;
    ada.screenshot("lockers-3-signed-in").await;

    // With locker-service down the request waits in its queue and the page says so...
    system.stop_locker_service().await;
    ada.click("#request").await;
    ada.shows("#outcome", "Pending").await;
    ada.screenshot("lockers-4-pending").await;
    // ...and the same page shows the outcome, without a reload, once it has been served.
    system.start_locker_service().await;
    ada.shows("#outcome", "ada got locker B-01.").await;
    ada.screenshot("lockers-5-assigned").await;
    ada.open(&format!("{app}/")).await;
    ada.shows("#state", "You hold locker B-01.").await;

    olga.open(&format!("{app}/lockers")).await;
    olga.shows("#lockers", "held by ada").await;
    olga.screenshot("lockers-6-grid").await;
    add_locker(&olga, &app, "b-02", "B-02").await;

    // bob, a second member, sees his own account only: no look-up of any name, nothing of ada's.
    let bob = driver.session().await;
    sign_up(&bob, &app, "bob").await;
    sign_in(&bob, &app, "bob").await;
    bob.shows("#state", "You hold no locker.").await;
    let shown = bob.text("body").await;
    assert!(
        !shown.contains("ada") && !shown.contains("B-01") && !shown.contains("Look up"),
        "{shown}"
    );
    bob.open(&format!("{app}/users")).await;
    bob.shows("body", "only an operator may do that").await;
    bob.screenshot("lockers-7-not-for-members").await;

    // A hand-made POST of bob's (his own session, CSRF token and attempt id) naming ada is
    // refused, and publishes nothing: with user-service stopped, its queue then holds exactly
    // one request, the one bob may make for himself.
    system.stop_user_service().await;
    let forger = Person::new(&app, "bob");
    forger.sign_in(PASSWORD).await;
    let own = form_fields(&forger.page("/").await, "/request");
    for action in ["/release", "/delete", "/request"] {
        let forged: Vec<(String, String)> = own
            .iter()
            .map(|(field, value)| {
                let value = if field == "name" { "ada" } else { value };
                (field.clone(), value.to_owned())
            })
            .collect();
        assert!(forged.contains(&("name".to_owned(), "ada".to_owned())));
        let response = forger.post(action, &forged).await;
        says(
            response,
            StatusCode::FORBIDDEN,
            "you may act only for your own account",
        )
        .await;
    }
    bob.open(&format!("{app}/")).await;
    bob.click("#request").await;
    bob.shows("#outcome", "Pending").await;
    let queued = queued(&system.vhost, USER_SERVICE_USERS.name).await;
    assert_eq!(queued.len(), 1, "{queued:#?}");
    assert!(
        queued[0].contains("\"name\":\"bob\"") && !queued[0].contains("ada"),
        "{queued:#?}"
    );
    system.start_user_service().await;
    bob.shows("#outcome", "bob got locker B-02.").await;
    ada.open(&format!("{app}/")).await;
    ada.shows("#state", "You hold locker B-01.").await;
    // user-service's request log agrees: bob asked for himself once, and for nobody else.
    let users = warren_service_kit::postgres::pool(&system.users_db.as_admin()).unwrap();
    let asked: Vec<(String, String)> = users
        .get()
        .await
        .unwrap()
        .query("SELECT kind, name FROM requests WHERE actor = 'bob'", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(asked, [("request".to_owned(), "bob".to_owned())]);

    // ada releases her locker and signs out: her session is over.
    ada.click("#release").await;
    ada.shows("#outcome", "ada released locker B-01.").await;
    ada.open(&format!("{app}/")).await;
    ada.shows("#state", "You hold no locker.").await;
    ada.click("#sign-out").await;
    ada.shows("#sign-in", "Sign in").await;
    ada.open(&format!("{app}/")).await;
    ada.shows("#sign-in", "Sign in").await;
    assert_eq!(ada.text("#signed-in-as").await, "");
    ada.screenshot("lockers-8-signed-out").await;

    // The operator deletes bob, whose locker is released first; bob's session ends with him.
    olga.open(&format!("{app}/users")).await;
    olga.shows("#users", "bob").await;
    olga.screenshot("lockers-9-users").await;
    olga.click("tr.user[data-name=bob] button.delete").await;
    olga.shows("#outcome", "bob was deleted.").await;
    olga.open(&format!("{app}/users")).await;
    olga.shows("#users", "ada").await;
    assert!(!olga.text("#users").await.contains("bob"));
    olga.open(&format!("{app}/lockers")).await;
    olga.shows("#lockers", "B-02").await;
    assert!(!olga.text("#lockers").await.contains("held by"));
    bob.open(&format!("{app}/")).await;
    assert_eq!(bob.text("#signed-in-as").await, "");
    bob.shows("#sign-in", "Sign in").await;

    for page in [olga, ada, bob] {
        page.close().await;
    }
    driver.stop();
    system.stop().await;
}
