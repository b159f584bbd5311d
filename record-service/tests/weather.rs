//! The real Open-Meteo client against a local stand-in serving the documented response format:
//! found, several matches, not found, provider down, provider slow.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{StandIn, nowhere, weather_settings};
use record_service::weather::{WeatherClient, WeatherError};

#[tokio::test]
async fn one_place_is_found_with_its_current_weather() {
    let stand_in = StandIn::start(false).await;
    let client = WeatherClient::new(weather_settings(&stand_in.url, 2_000)).unwrap();
    let places = client.search("Reykjavik").await.unwrap();
    assert_eq!(places.len(), 1);
    assert_eq!(places[0].label(), "Reykjavík, Capital Region, Iceland");
    let seen = client.current(&places[0]).await.unwrap();
    assert_eq!(seen.city, "Reykjavík");
    assert_eq!(seen.country, "Iceland");
    assert_eq!(seen.temperature_c, -2.3);
    assert_eq!(seen.weather_code, 71);
    assert_eq!(seen.condition, "Slight snow fall");
    assert!(!seen.is_day);
    assert_eq!(seen.timezone, "Atlantic/Reykjavik");
    assert_eq!(seen.local_time, "2026-11-22T18:45");
    assert_eq!(seen.observed_at.to_rfc3339(), "2026-11-22T18:45:00+00:00");
}

#[tokio::test]
async fn several_places_can_share_a_name_and_each_has_its_own_weather_and_time() {
    let stand_in = StandIn::start(false).await;
    let client = WeatherClient::new(weather_settings(&stand_in.url, 2_000)).unwrap();
    let places = client.search("Paris").await.unwrap();
    let labels: Vec<String> = places.iter().map(|place| place.label()).collect();
    assert_eq!(
        labels,
        [
            "Paris, Île-de-France, France",
            "Paris, Texas, United States",
            "Paris, Tennessee, United States"
        ]
    );
    let texas = client.current(&places[1]).await.unwrap();
    assert_eq!(texas.local_time, "2026-11-22T12:45");
    // UTC-6: 12:45 local is 18:45 UTC.
    assert_eq!(texas.observed_at.to_rfc3339(), "2026-11-22T18:45:00+00:00");
    assert_eq!(texas.condition, "Mainly clear");
    assert!(texas.is_day);
}

#[tokio::test]
async fn an_unknown_city_is_not_found() {
    let stand_in = StandIn::start(false).await;
    let client = WeatherClient::new(weather_settings(&stand_in.url, 2_000)).unwrap();
    assert_eq!(
        client.search("Atlantis").await.unwrap_err(),
        WeatherError::NotFound("Atlantis".into())
    );
}

#[tokio::test]
async fn a_provider_that_is_down_is_reported_at_once() {
    let client = WeatherClient::new(weather_settings(&nowhere(), 2_000)).unwrap();
    let started = Instant::now();
    let error = client.search("Paris").await.unwrap_err();
    assert!(matches!(error, WeatherError::Unavailable(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_slow_provider_is_reported_within_the_timeout() {
    let stand_in = StandIn::start(true).await;
    let client = WeatherClient::new(weather_settings(&stand_in.url, 300)).unwrap();
    let started = Instant::now();
    let error = client.search("Paris").await.unwrap_err();
    assert_eq!(error, WeatherError::Slow(300));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
