//! Sessions and sign-in: a new session at every sign-in, ended by sign-out; the cookie's
//! attributes; the idle and absolute deadlines; failures that say nothing about which part was
//! wrong; and the throttle of repeated failures, per name and per address, shared by every
//! instance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use deadpool_postgres::Pool;
use reqwest::StatusCode;
use warren_manifest::{ACCOUNTS_DB, LOCKER_APP, LOCKERS_DB, USERS_DB};
use warren_testkit::accounts::{PASSWORD, Person, make_operator};
use warren_testkit::services::Wiring;
use warren_testkit::{Running, broker_settings, mongo_as, spawn};

use locker_app::accounts::ACCOUNT_COOKIE;
use locker_app::configuration::Settings;

/// A wiring with the accounts `names` (made by `warren-operator`: a session is the same for
/// every role) and the accounts database, read as the administrator.
async fn accounts(names: &[&str]) -> (Wiring, Pool) {
    let wiring = Wiring::fresh(&[LOCKER_APP]).await;
    for name in names {
        make_operator(&wiring, name, PASSWORD).await;
    }
    let pool =
        warren_service_kit::postgres::pool(&wiring.postgres(ACCOUNTS_DB).as_admin()).unwrap();
    (wiring, pool)
}

/// A locker-app instance on `wiring`'s databases, its settings changed by `configure`.
async fn instance(wiring: &Wiring, configure: impl FnOnce(&mut Settings)) -> Running {
    let mut settings: Settings = warren_testkit::settings(locker_app::configuration::DEFAULTS);
    settings.broker = broker_settings("locker-app", wiring.vhost());
    settings.postgres = wiring.postgres(USERS_DB).as_service(&LOCKER_APP);
    settings.accounts = wiring.postgres(ACCOUNTS_DB).as_service(&LOCKER_APP);
    settings.mongo = mongo_as(wiring.mongo(LOCKERS_DB), &LOCKER_APP);
    configure(&mut settings);
    spawn(locker_app::startup::build(settings).await.unwrap())
}

/// Sends the sign-in form of `person` (whose home page must show it) with `password`.
async fn sign_in(person: &Person, password: &str) -> reqwest::Response {
    let form = person
        .form(
            "/",
            "/sign-in",
            &[("name", &person.name), ("password", password)],
        )
        .await;
    person.post("/sign-in", &form).await
}

/// The session cookie a response sets: its value and its attributes.
fn set_cookie(response: &reqwest::Response) -> (String, Vec<String>) {
    let header = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{ACCOUNT_COOKIE}=")))
        .unwrap_or_else(|| panic!("no {ACCOUNT_COOKIE} cookie set: {:?}", response.headers()))
        .to_owned();
    let mut parts = header.split(';').map(|part| part.trim().to_owned());
    let value = parts.next().unwrap()[ACCOUNT_COOKIE.len() + 1..].to_owned();
    (value, parts.collect())
}

/// A client that keeps no cookies and follows no redirects: a cookie is sent by hand.
fn raw() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs `person` in; returns the session cookie's secret.
async fn signed_in(person: &Person) -> String {
    let response = sign_in(person, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    set_cookie(&response).0
}

/// The home page of whoever holds the session `secret` (sent by hand, as a thief would).
async fn home_with(app: &Running, secret: &str) -> String {
    raw()
        .get(app.url("/"))
        .header("cookie", format!("{ACCOUNT_COOKIE}={secret}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Whether the session `secret` signs anyone in: the home page says who, and the API (the
/// users list, for an operator) answers.
async fn works(app: &Running, secret: &str) -> bool {
    let home = home_with(app, secret).await.contains("id=\"signed-in-as\"");
    let api = raw()
        .get(app.url("/api/users"))
        .header("cookie", format!("{ACCOUNT_COOKIE}={secret}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        home,
        api == StatusCode::OK,
        "the page and the API disagree about the session ({api})"
    );
    if !home {
        assert_eq!(api, StatusCode::UNAUTHORIZED);
    }
    home
}

/// Signs `person` out from their own browser; returns the response.
async fn sign_out(person: &Person) -> reqwest::Response {
    let form = person.form("/", "/sign-out", &[]).await;
    person.post("/sign-out", &form).await
}

async fn execute(pool: &Pool, sql: &str, name: &str) {
    let client = pool.get().await.unwrap();
    let changed = client.execute(sql, &[&name]).await.unwrap();
    assert!(changed > 0, "{sql}: no session of {name}");
}

#[tokio::test]
async fn a_sign_in_makes_a_new_session_and_ends_the_browser_s_last() {
    let (wiring, pool) = accounts(&["ada"]).await;
    let app = instance(&wiring, |_| {}).await;
    let ada = Person::new(&app.url(""), "ada");
    let form = ada
        .form("/", "/sign-in", &[("name", "ada"), ("password", PASSWORD)])
        .await;
    let first = ada.post("/sign-in", &form).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let (first, _) = set_cookie(&first);
    // The same browser signs in again, sending the first session's cookie along.
    let second = ada.post("/sign-in", &form).await;
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    let (second, _) = set_cookie(&second);
    // And another browser.
    let elsewhere = signed_in(&Person::new(&app.url(""), "ada")).await;
    assert_ne!(first, second, "a sign-in kept the cookie it was sent");
    assert_ne!(second, elsewhere);
    assert_ne!(first, elsewhere);
    let client = pool.get().await.unwrap();
    let sessions: i64 = client
        .query_one(
            "SELECT count(DISTINCT id) FROM sessions WHERE name = 'ada'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        sessions, 2,
        "the first session outlived the sign-in that replaced it"
    );
    assert!(
        !works(&app, &first).await,
        "the browser's session from before still works after it signed in again"
    );
    assert!(works(&app, &second).await);
    assert!(works(&app, &elsewhere).await);

    // Sign-out ends the session of the browser that signs out (the second), and no other.
    let out = sign_out(&ada).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (cleared, attributes) = set_cookie(&out);
    assert_eq!(cleared, "");
    assert!(
        attributes.contains(&"Max-Age=0".to_owned()),
        "{attributes:?}"
    );
    assert!(
        !works(&app, &second).await,
        "the cookie still works after sign-out"
    );
    assert!(
        works(&app, &elsewhere).await,
        "sign-out ended another session"
    );
    app.stop().await;
}

/// The attributes of the session cookie an instance with `public_url` sets at sign-in and at
/// sign-out.
async fn cookie_attributes(wiring: &Wiring, public_url: &str) -> (Vec<String>, Vec<String>) {
    let url = public_url.to_owned();
    let app = instance(wiring, move |settings| settings.sessions.public_url = url).await;
    let ada = Person::new(&app.url(""), "ada");
    let response = sign_in(&ada, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (secret, at_sign_in) = set_cookie(&response);
    // A Secure cookie does not come back over plain http: send it by hand.
    let home = home_with(&app, &secret).await;
    let csrf = warren_testkit::web::form_fields(&home, "/sign-out")
        .and_then(|fields| fields.into_iter().find(|(name, _)| name == "csrf"))
        .unwrap_or_else(|| panic!("no sign-out form: {home}"))
        .1;
    let out = raw()
        .post(app.url("/sign-out"))
        .header("cookie", format!("{ACCOUNT_COOKIE}={secret}"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (_, at_sign_out) = set_cookie(&out);
    app.stop().await;
    (at_sign_in, at_sign_out)
}

#[tokio::test]
async fn the_cookie_is_http_only_same_site_lax_for_the_whole_site_and_secure_exactly_over_https() {
    let (wiring, _) = accounts(&["ada"]).await;
    for (public_url, secure) in [
        ("", false),
        ("http://lockers.localhost", false),
        ("https://lockers.example.com", true),
    ] {
        let (at_sign_in, at_sign_out) = cookie_attributes(&wiring, public_url).await;
        for attributes in [at_sign_in, at_sign_out] {
            for wanted in ["HttpOnly", "SameSite=Lax", "Path=/"] {
                assert!(
                    attributes.iter().any(|attribute| attribute == wanted),
                    "{public_url:?}: {wanted} missing from {attributes:?}"
                );
            }
            assert_eq!(
                attributes.iter().any(|attribute| attribute == "Secure"),
                secure,
                "{public_url:?}: {attributes:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_session_ends_when_idle_and_at_its_absolute_deadline() {
    let (wiring, pool) = accounts(&["ada"]).await;
    let app = instance(&wiring, |_| {}).await;
    let ada = Person::new(&app.url(""), "ada");
    let secret = signed_in(&ada).await;
    assert!(works(&app, &secret).await);
    let (csrf, attempt) = ada.tokens().await;
    let request = [("name", "ada"), ("csrf", &csrf), ("attempt", &attempt)];

    // Idle past its deadline: over, for pages, the API and forms alike.
    execute(
        &pool,
        "UPDATE sessions SET idle_expires_at = now() - interval '1 second' WHERE name = $1",
        "ada",
    )
    .await;
    assert!(!works(&app, &secret).await, "an idle session still works");
    let refused = ada
        .client
        .post(ada.url("/request"))
        .form(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // The deadline alone decided: moved on, the session works again.
    execute(
        &pool,
        "UPDATE sessions SET idle_expires_at = now() + interval '1 hour' WHERE name = $1",
        "ada",
    )
    .await;
    assert!(works(&app, &secret).await);

    // Past the absolute deadline, however recently used.
    execute(
        &pool,
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE name = $1",
        "ada",
    )
    .await;
    assert!(
        !works(&app, &secret).await,
        "a session past its end still works"
    );
    let refused = ada
        .client
        .post(ada.url("/request"))
        .form(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn use_pushes_the_idle_deadline_on_but_never_past_the_absolute_one() {
    let (wiring, pool) = accounts(&["ada"]).await;
    let app = instance(&wiring, |settings| settings.sessions.idle_minutes = 30).await;
    let ada = Person::new(&app.url(""), "ada");
    let secret = signed_in(&ada).await;
    let deadlines = || async {
        let client = pool.get().await.unwrap();
        let row = client
            .query_one(
                "SELECT extract(epoch FROM idle_expires_at - now())::float8, \
                 extract(epoch FROM expires_at - now())::float8 FROM sessions WHERE name = 'ada'",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, f64>(0), row.get::<_, f64>(1))
    };
    execute(
        &pool,
        "UPDATE sessions SET idle_expires_at = now() + interval '10 seconds' WHERE name = $1",
        "ada",
    )
    .await;
    assert!(works(&app, &secret).await);
    let (idle, _) = deadlines().await;
    assert!(
        (29.0 * 60.0..=30.0 * 60.0).contains(&idle),
        "idle deadline in {idle} s"
    );

    execute(
        &pool,
        "UPDATE sessions SET idle_expires_at = now() + interval '10 seconds', \
         expires_at = now() + interval '5 minutes' WHERE name = $1",
        "ada",
    )
    .await;
    assert!(works(&app, &secret).await);
    let (idle, absolute) = deadlines().await;
    assert!(
        (idle - absolute).abs() < 0.001,
        "idle {idle} s, absolute {absolute} s"
    );
    app.stop().await;
}

/// A page's text with what differs between two renderings of one form taken out: the name the
/// visitor typed (shown back to them) and the fresh attempt id.
fn without_echo(page: &str, typed: &str) -> String {
    let page = page.replace(typed, "<typed>");
    let mut out = String::new();
    let mut rest = page.as_str();
    while let Some(at) = rest.find("name=\"attempt\" value=\"") {
        let start = at + "name=\"attempt\" value=\"".len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        rest = &rest[rest.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn a_wrong_name_and_a_wrong_password_get_the_same_answer() {
    let (wiring, _) = accounts(&["ada"]).await;
    let app = instance(&wiring, |_| {}).await;
    let visitor = Person::new(&app.url(""), "ada");
    let wrong_password = sign_in(&visitor, "not the password at all").await;
    let visitor = Person {
        name: "ida".into(),
        ..visitor
    };
    let wrong_name = sign_in(&visitor, PASSWORD).await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_name.status(), wrong_password.status());
    let headers = |response: &reqwest::Response| {
        let mut names: Vec<String> = response
            .headers()
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name != "date" && name != "content-length")
            .collect();
        names.sort();
        names
    };
    assert_eq!(headers(&wrong_name), headers(&wrong_password));
    let by_password = without_echo(&wrong_password.text().await.unwrap(), "ada");
    let by_name = without_echo(&wrong_name.text().await.unwrap(), "ida");
    assert_eq!(by_name, by_password);
    assert!(
        by_name.contains("The name or the password is wrong."),
        "{by_name}"
    );
    app.stop().await;
}

/// The wait a throttled answer asks for, checked against the window.
fn retry_after(response: &reqwest::Response, window_minutes: u64) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = response
        .headers()
        .get("retry-after")
        .expect("a 429 without Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=window_minutes * 60).contains(&seconds),
        "Retry-After: {seconds}"
    );
    seconds
}

#[tokio::test]
async fn repeated_failures_for_a_name_are_throttled_even_with_the_right_password() {
    let (wiring, _) = accounts(&["ada", "bob"]).await;
    let app = instance(&wiring, |settings| {
        settings.sessions.failures_per_name = 3;
        settings.sessions.failures_per_address = 100;
    })
    .await;
    let ada = Person::new(&app.url(""), "ada");
    for _ in 0..3 {
        let failed = sign_in(&ada, "wrong password").await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    }
    retry_after(&sign_in(&ada, "wrong password").await, 15);
    retry_after(&sign_in(&ada, PASSWORD).await, 15);
    // Another name from the same address is not held back by ada's failures.
    let bob = Person::new(&app.url(""), "bob");
    assert_eq!(
        sign_in(&bob, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_from_an_address_are_throttled_for_every_name() {
    let (wiring, _) = accounts(&["ada"]).await;
    let app = instance(&wiring, |settings| {
        settings.sessions.failures_per_name = 100;
        settings.sessions.failures_per_address = 4;
    })
    .await;
    for guess in ["root", "admin", "ad", "adam"] {
        let guesser = Person::new(&app.url(""), guess);
        let failed = sign_in(&guesser, PASSWORD).await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "{guess}");
    }
    let ada = Person::new(&app.url(""), "ada");
    retry_after(&sign_in(&ada, PASSWORD).await, 15);
    app.stop().await;
}

#[tokio::test]
async fn the_sign_in_limit_holds_across_two_instances_sharing_the_database() {
    let (wiring, _) = accounts(&["ada"]).await;
    let limit = |settings: &mut Settings| {
        settings.sessions.failures_per_name = 4;
        settings.sessions.failures_per_address = 100;
    };
    let one = instance(&wiring, limit).await;
    let two = instance(&wiring, limit).await;
    let at_one = Person::new(&one.url(""), "ada");
    let at_two = Person::new(&two.url(""), "ada");
    // Two failures at each: under the limit at either alone, at it together.
    for person in [&at_one, &at_two, &at_one, &at_two] {
        let failed = sign_in(person, "wrong password").await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    }
    retry_after(&sign_in(&at_one, PASSWORD).await, 15);
    retry_after(&sign_in(&at_two, PASSWORD).await, 15);
    one.stop().await;
    two.stop().await;
}
