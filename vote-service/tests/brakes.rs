//! What vote-service tells a browser (the security headers on every answer, no inline script
//! or style) and its brake on vote stuffing: a rate per client address on `POST /vote`.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use warren_service_kit::limits::RateLimit;
use warren_testkit::web::browser;

mod common;

use common::{ballot, send, system, system_with};

/// Inline script, inline style, `style=` attributes and `on*=` handlers in `html`.
fn inline_code(html: &str) -> Vec<String> {
    let lower = html.to_lowercase();
    let mut found = Vec::new();
    for (at, _) in lower.match_indices("<script") {
        let tag = &lower[at..lower[at..].find('>').map_or(lower.len(), |end| at + end)];
        if !tag.contains(" src=") {
            found.push(tag.to_owned());
        }
    }
    if lower.contains("<style") {
        found.push("<style>".to_owned());
    }
    for needle in [
        " style=",
        " onclick=",
        " onload=",
        " onsubmit=",
        " onerror=",
        " onchange=",
    ] {
        if lower.contains(needle) {
            found.push(needle.to_owned());
        }
    }
    found
}

fn assert_secured(what: &str, headers: &reqwest::header::HeaderMap) {
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(headers["referrer-policy"], "same-origin", "{what}");
}

#[tokio::test]
async fn every_answer_has_the_security_headers_and_no_page_has_inline_code() {
    let system = system(false).await;
    for (path, status) in [
        ("/", StatusCode::OK),
        ("/results", StatusCode::OK),
        ("/api/results", StatusCode::OK),
        ("/nowhere", StatusCode::NOT_FOUND),
        ("/static/site.css", StatusCode::OK),
        ("/static/results.js", StatusCode::OK),
        ("/static/warren.css", StatusCode::OK),
    ] {
        let response = reqwest::get(system.vote.url(path)).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_secured(path, response.headers());
        let body = response.text().await.unwrap();
        assert!(
            inline_code(&body).is_empty(),
            "{path}: {:?}",
            inline_code(&body)
        );
    }
    let script = reqwest::get(system.vote.url("/static/results.js"))
        .await
        .unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        script.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );

    // A vote (a redirect) and a refused one (an error page) carry them too.
    let client = browser();
    let shown = ballot(&client, &system.vote).await;
    let voted = send(&client, &system.vote, &shown.form("a")).await;
    assert_eq!(voted.status(), StatusCode::SEE_OTHER);
    assert_secured("POST /vote", voted.headers());
    let forged = send(&client, &system.vote, &[("vote", "a".to_owned())]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_secured("a refused POST /vote", forged.headers());
    system.vote.stop().await;
}

#[tokio::test]
async fn votes_past_the_address_limit_are_429_with_retry_after_and_publish_nothing() {
    let system = system_with(false, |settings| {
        settings.vote_limit = RateLimit {
            burst: 2,
            per_second: 0.001,
        };
    })
    .await;
    // Each a new voter (a fresh cookie), as a stuffer dropping the cookie would be.
    for option in ["a", "b"] {
        let client = browser();
        let shown = ballot(&client, &system.vote).await;
        let response = send(&client, &system.vote, &shown.form(option)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(system.queued().await.len(), 2);

    let client = browser();
    let shown = ballot(&client, &system.vote).await;
    let refused = send(&client, &system.vote, &shown.form("a")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let page = refused.text().await.unwrap();
    assert!(page.contains("too many votes from your address"), "{page}");
    // Published votes are confirmed before their answer: a third would be in the queue now.
    assert_eq!(system.queued().await.len(), 2);
    // The pages are not limited.
    let results = reqwest::get(system.vote.url("/results")).await.unwrap();
    assert_eq!(results.status(), StatusCode::OK);
    system.vote.stop().await;
}

#[tokio::test]
async fn the_default_vote_limit_lets_the_seed_load_through() {
    let settings: vote_service::configuration::Settings =
        warren_testkit::settings(vote_service::configuration::DEFAULTS);
    // 50 clients on one address send thousands of votes a second for a few seconds.
    assert!(
        settings.vote_limit.burst >= 20_000,
        "{:?}",
        settings.vote_limit
    );
    assert!(
        settings.vote_limit.per_second >= 5_000.0,
        "{:?}",
        settings.vote_limit
    );
    assert_eq!(settings.results.max_streams, 1_000);
    assert!(settings.http.trusted_proxies == Default::default());
}
