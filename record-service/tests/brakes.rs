//! The weather search's brakes: the provider's answers are cached for a short time, searches
//! are rate limited per client address (X-Forwarded-For believed only from a trusted proxy),
//! and every page runs under the Content-Security-Policy with no inline script or style.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reqwest::StatusCode;
use warren_service_kit::limits::{RateLimit, TrustedProxies};

use common::{StandIn, System, system_configured, weather_settings};
use record_service::weather::{Place, WeatherClient};

/// A limit of `burst` searches that does not refill within a test.
fn searches(burst: u32) -> RateLimit {
    RateLimit {
        burst,
        per_second: 0.001,
    }
}

async fn limited(burst: u32, trusted: &str) -> System {
    let trusted = TrustedProxies::parse(trusted.split(',')).unwrap();
    system_configured(None, move |settings| {
        settings.weather.search_limit = searches(burst);
        settings.http.trusted_proxies = trusted;
    })
    .await
}

async fn search_from(
    system: &System,
    city: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(system.service.url(&format!("/?city={city}")));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_same_search_again_does_not_reach_the_provider() {
    let stand_in = StandIn::start(false).await;
    let client = WeatherClient::new(weather_settings(&stand_in.url, 2_000)).unwrap();
    let place = client.search("Reykjavik").await.unwrap().remove(0);
    client.current(&place).await.unwrap();
    assert_eq!(stand_in.requests(), 2);
    let again = client.search("Reykjavik").await.unwrap().remove(0);
    assert_eq!(again, place);
    let seen = client.current(&again).await.unwrap();
    assert_eq!(seen.temperature_c, -2.3);
    assert_eq!(stand_in.requests(), 2, "answered from the cache");
    // Another query is another request.
    client.search("Paris").await.unwrap();
    assert_eq!(stand_in.requests(), 3);
    // "No such place" is the provider's answer too, and kept.
    assert!(client.search("Atlantis").await.is_err());
    assert!(client.search("Atlantis").await.is_err());
    assert_eq!(stand_in.requests(), 4);
    // A failure is not kept: the provider is asked again.
    let nowhere = Place {
        latitude: 91.0,
        ..place.clone()
    };
    assert!(client.current(&nowhere).await.is_err());
    assert!(client.current(&nowhere).await.is_err());
    assert_eq!(stand_in.requests(), 6);
    assert_eq!(client.cached(), 4);

    // Without a cache, every search is the provider's.
    let mut settings = weather_settings(&stand_in.url, 2_000);
    settings.cache_ttl_ms = 0;
    let uncached = WeatherClient::new(settings).unwrap();
    uncached.search("Reykjavik").await.unwrap();
    uncached.search("Reykjavik").await.unwrap();
    assert_eq!(stand_in.requests(), 8);
}

#[tokio::test]
async fn the_service_answers_a_repeated_search_page_from_its_cache() {
    let system = limited(30, "").await;
    let stand_in = system.stand_in.as_ref().unwrap();
    let first = search_from(&system, "Reykjavik", None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let asked = stand_in.requests();
    assert_eq!(asked, 2, "geocoding and forecast");
    let again = search_from(&system, "Reykjavik", None).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(again.text().await.unwrap().contains("-2.3 °C"));
    assert_eq!(stand_in.requests(), asked);
    system.service.stop().await;
}

#[tokio::test]
async fn a_search_past_the_limit_is_429_with_retry_after_and_asks_nothing() {
    let system = limited(3, "").await;
    let stand_in = system.stand_in.as_ref().unwrap();
    for city in ["Reykjavik", "Paris", "Atlantis"] {
        let response = search_from(&system, city, None).await;
        assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{city}");
    }
    let asked = stand_in.requests();

    let refused = search_from(&system, "Berlin", None).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let page = refused.text().await.unwrap();
    assert!(page.contains("searched too often"), "{page}");
    assert!(
        page.contains("<form"),
        "the search form is still there: {page}"
    );

    let api = reqwest::get(system.service.url("/api/search?city=Berlin"))
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(api.headers().contains_key("retry-after"));
    let body: serde_json::Value = api.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("too often"),
        "{body}"
    );
    assert_eq!(stand_in.requests(), asked, "a refused search asks nothing");

    // The page without a search is not a search.
    let blank = reqwest::get(system.service.url("/")).await.unwrap();
    assert_eq!(blank.status(), StatusCode::OK);
    system.service.stop().await;
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    // No trusted proxy: every request is 127.0.0.1's, whatever the header claims.
    let direct = limited(1, "").await;
    let first = search_from(&direct, "Reykjavik", Some("203.0.113.1")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let claimed = search_from(&direct, "Reykjavik", Some("203.0.113.2")).await;
    assert_eq!(claimed.status(), StatusCode::TOO_MANY_REQUESTS);
    direct.service.stop().await;

    // Behind a trusted proxy (the tests' 127.0.0.1): each forwarded client has its own bucket.
    let proxied = limited(1, "127.0.0.1").await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        let first = search_from(&proxied, "Reykjavik", Some(client)).await;
        assert_eq!(first.status(), StatusCode::OK, "{client}");
    }
    let again = search_from(&proxied, "Reykjavik", Some("203.0.113.1")).await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    // What the client wrote left of the proxy's entry changes nothing.
    let spoofed = search_from(&proxied, "Reykjavik", Some("198.51.100.9, 203.0.113.2")).await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    proxied.service.stop().await;
}

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

#[tokio::test]
async fn every_page_has_the_security_headers_and_no_inline_script_or_style() {
    let system = limited(30, "").await;
    for (path, status) in [
        ("/", StatusCode::OK),
        ("/?city=Reykjavik", StatusCode::OK),
        ("/?city=Paris", StatusCode::OK),
        ("/?city=Atlantis", StatusCode::NOT_FOUND),
        ("/records", StatusCode::OK),
        ("/api/search?city=Reykjavik", StatusCode::OK),
        ("/nowhere", StatusCode::NOT_FOUND),
        ("/static/site.css", StatusCode::OK),
        ("/static/warren.css", StatusCode::OK),
    ] {
        let response = reqwest::get(system.service.url(path)).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        let body = response.text().await.unwrap();
        assert!(
            inline_code(&body).is_empty(),
            "{path}: {:?}",
            inline_code(&body)
        );
    }
    let css = reqwest::get(system.service.url("/static/site.css"))
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    system.service.stop().await;
}
