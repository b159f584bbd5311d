//! The weather provider: Open-Meteo's geocoding and forecast APIs (no key; base URLs come from
//! the settings, so tests and offline machines can point them at a stand-in).
//!
//! Every call is bounded by a timeout. What can go wrong is one of three answers the pages turn
//! into clear messages: no such place, the provider unreachable or failing, the provider too slow.
//!
//! The provider's answers are kept for a short time (`cache_ttl_ms`, at most `cache_entries`),
//! keyed by the request, so the same search asked again soon (a reload, Record after a search,
//! many visitors looking up one city) does not reach the provider again. Failures are not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use warren_messages::events::records::Observation;
use warren_service_kit::limits::RateLimit;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeatherSettings {
    /// Open-Meteo's geocoding API, e.g. `https://geocoding-api.open-meteo.com`.
    pub geocoding_url: String,
    /// Open-Meteo's forecast API, e.g. `https://api.open-meteo.com`.
    pub forecast_url: String,
    pub timeout_ms: u64,
    /// How many places a search offers at most.
    pub max_places: u8,
    /// How long a provider's answer is used again for the same request; 0 keeps none.
    pub cache_ttl_ms: u64,
    /// How many answers are kept at most.
    pub cache_entries: usize,
    /// Searches per client address (the pages' and `/api/search`), in this instance.
    pub search_limit: RateLimit,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WeatherError {
    #[error("no place called {0} was found")]
    NotFound(String),
    #[error("the weather service cannot be reached right now ({0})")]
    Unavailable(String),
    #[error("the weather service did not answer within {0} ms")]
    Slow(u64),
}

/// A place as the geocoding API describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Place {
    pub id: i64,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub country_code: Option<String>,
    #[serde(default)]
    pub admin1: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
}

impl Place {
    /// "Paris, Île-de-France, France".
    pub fn label(&self) -> String {
        [
            Some(&self.name),
            self.admin1.as_ref(),
            self.country.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

#[derive(Deserialize)]
struct GeocodingResponse {
    #[serde(default)]
    results: Vec<Place>,
}

#[derive(Deserialize)]
struct ForecastResponse {
    utc_offset_seconds: i32,
    timezone: String,
    current: Current,
}

#[derive(Deserialize)]
struct Current {
    time: String,
    temperature_2m: f64,
    weather_code: u16,
    is_day: u8,
}

/// Open-Meteo's answer when a request is wrong: `{"error": true, "reason": "..."}`.
#[derive(Deserialize)]
struct ProviderError {
    reason: String,
}

/// The provider's answers by request, each with when it was received.
struct Cache {
    ttl: Duration,
    max_entries: usize,
    answers: Mutex<HashMap<String, (Instant, bytes::Bytes)>>,
}

impl Cache {
    fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            answers: Mutex::new(HashMap::new()),
        }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, bytes::Bytes)>> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &str) -> Option<bytes::Bytes> {
        let answers = self.answers();
        let (at, body) = answers.get(key)?;
        (at.elapsed() < self.ttl).then(|| body.clone())
    }

    /// Keeps `body`; when full, first drops what has expired, then the oldest answer.
    fn put(&self, key: String, body: bytes::Bytes) {
        if self.ttl.is_zero() || self.max_entries == 0 {
            return;
        }
        let mut answers = self.answers();
        if !answers.contains_key(&key) && answers.len() >= self.max_entries {
            let ttl = self.ttl;
            answers.retain(|_, (at, _)| at.elapsed() < ttl);
            if answers.len() >= self.max_entries
                && let Some(oldest) = answers
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(key, _)| key.clone())
            {
                answers.remove(&oldest);
            }
        }
        answers.insert(key, (Instant::now(), body));
    }

    fn len(&self) -> usize {
        self.answers().len()
    }
}

#[derive(Clone)]
pub struct WeatherClient {
    http: reqwest::Client,
    settings: WeatherSettings,
    cache: Arc<Cache>,
}

impl WeatherClient {
    pub fn new(settings: WeatherSettings) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("warren-record-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let cache = Cache::new(
            Duration::from_millis(settings.cache_ttl_ms),
            settings.cache_entries,
        );
        Ok(Self {
            http,
            settings,
            cache: Arc::new(cache),
        })
    }

    pub fn settings(&self) -> &WeatherSettings {
        &self.settings
    }

    /// How many answers the cache holds now.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    fn failure(&self, error: &reqwest::Error) -> WeatherError {
        if error.is_timeout() {
            WeatherError::Slow(self.settings.timeout_ms)
        } else if error.is_connect() {
            WeatherError::Unavailable("no connection".into())
        } else if error.is_decode() {
            WeatherError::Unavailable("an answer that cannot be read".into())
        } else {
            WeatherError::Unavailable(error.to_string())
        }
    }

    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        url: String,
        query: &[(&str, String)],
    ) -> Result<T, WeatherError> {
        let key = serde_json::json!([url, query]).to_string();
        if let Some(body) = self.cache.get(&key)
            && let Ok(answer) = serde_json::from_slice(&body)
        {
            return Ok(answer);
        }
        let response = self
            .http
            .get(url)
            .query(query)
            .send()
            .await
            .map_err(|error| self.failure(&error))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| self.failure(&error))?;
        if !status.is_success() {
            let reason = serde_json::from_slice::<ProviderError>(&body)
                .map(|error| error.reason)
                .unwrap_or_else(|_| format!("status {status}"));
            return Err(WeatherError::Unavailable(reason));
        }
        let answer = serde_json::from_slice(&body).map_err(|error| {
            tracing::warn!(%error, "the weather service answered something unexpected");
            WeatherError::Unavailable("an answer that cannot be read".into())
        })?;
        self.cache.put(key, body);
        Ok(answer)
    }

    /// The places called `name`, most relevant first; NotFound if there are none.
    pub async fn search(&self, name: &str) -> Result<Vec<Place>, WeatherError> {
        let url = format!(
            "{}/v1/search",
            self.settings.geocoding_url.trim_end_matches('/')
        );
        let query = [
            ("name", name.to_owned()),
            ("count", self.settings.max_places.to_string()),
            ("language", "en".to_owned()),
            ("format", "json".to_owned()),
        ];
        let found: GeocodingResponse = self.get(url, &query).await?;
        if found.results.is_empty() {
            return Err(WeatherError::NotFound(name.to_owned()));
        }
        Ok(found.results)
    }

    /// The current weather at `place`.
    pub async fn current(&self, place: &Place) -> Result<Observation, WeatherError> {
        let url = format!(
            "{}/v1/forecast",
            self.settings.forecast_url.trim_end_matches('/')
        );
        let query = [
            ("latitude", place.latitude.to_string()),
            ("longitude", place.longitude.to_string()),
            ("current", "temperature_2m,weather_code,is_day".to_owned()),
            ("timezone", "auto".to_owned()),
        ];
        let forecast: ForecastResponse = self.get(url, &query).await?;
        let unreadable = || WeatherError::Unavailable("an answer that cannot be read".into());
        let local = NaiveDateTime::parse_from_str(&forecast.current.time, "%Y-%m-%dT%H:%M")
            .map_err(|_| unreadable())?;
        let observed_at = Utc.from_utc_datetime(
            &(local - chrono::Duration::seconds(i64::from(forecast.utc_offset_seconds))),
        );
        let observation = Observation {
            city: place.name.clone(),
            region: place.admin1.clone(),
            country: place
                .country
                .clone()
                .or_else(|| place.country_code.clone())
                .unwrap_or_default(),
            latitude: place.latitude,
            longitude: place.longitude,
            timezone: forecast.timezone,
            local_time: forecast.current.time,
            observed_at,
            temperature_c: forecast.current.temperature_2m,
            weather_code: forecast.current.weather_code,
            condition: condition(forecast.current.weather_code).to_owned(),
            is_day: forecast.current.is_day == 1,
        };
        observation.validate().map_err(|_| unreadable())?;
        Ok(observation)
    }
}

/// The WMO weather interpretation code in words, as Open-Meteo documents the codes.
pub fn condition(code: u16) -> &'static str {
    match code {
        0 => "Clear sky",
        1 => "Mainly clear",
        2 => "Partly cloudy",
        3 => "Overcast",
        45 => "Fog",
        48 => "Depositing rime fog",
        51 => "Light drizzle",
        53 => "Moderate drizzle",
        55 => "Dense drizzle",
        56 => "Light freezing drizzle",
        57 => "Dense freezing drizzle",
        61 => "Slight rain",
        63 => "Moderate rain",
        65 => "Heavy rain",
        66 => "Light freezing rain",
        67 => "Heavy freezing rain",
        71 => "Slight snow fall",
        73 => "Moderate snow fall",
        75 => "Heavy snow fall",
        77 => "Snow grains",
        80 => "Slight rain showers",
        81 => "Moderate rain showers",
        82 => "Violent rain showers",
        85 => "Slight snow showers",
        86 => "Heavy snow showers",
        95 => "Thunderstorm",
        96 => "Thunderstorm with slight hail",
        99 => "Thunderstorm with heavy hail",
        _ => "Unknown conditions",
    }
}

/// An icon for the condition (by day or by night).
pub fn icon(code: u16, is_day: bool) -> &'static str {
    match code {
        0 | 1 if is_day => "☀️",
        0 | 1 => "🌙",
        2 if is_day => "⛅",
        2 | 3 => "☁️",
        45 | 48 => "🌫️",
        51..=57 | 80..=82 => "🌦️",
        61..=67 => "🌧️",
        71..=77 | 85 | 86 => "❄️",
        95..=99 => "⛈️",
        _ => "❔",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_answers_for_their_ttl_and_at_most_its_size() {
        let cache = Cache::new(Duration::from_secs(60), 2);
        cache.put("a".into(), bytes::Bytes::from_static(b"1"));
        cache.put("b".into(), bytes::Bytes::from_static(b"2"));
        assert_eq!(cache.get("a").as_deref(), Some(&b"1"[..]));
        cache.put("c".into(), bytes::Bytes::from_static(b"3"));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a"), None, "the oldest answer makes room");
        assert_eq!(cache.get("c").as_deref(), Some(&b"3"[..]));
        let expired = Cache::new(Duration::ZERO, 10);
        expired.put("a".into(), bytes::Bytes::from_static(b"1"));
        assert_eq!(expired.get("a"), None);
        assert_eq!(expired.len(), 0);
    }

    #[test]
    fn every_documented_code_has_words_and_an_icon() {
        for code in [
            0, 1, 2, 3, 45, 48, 51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 71, 73, 75, 77, 80, 81, 82,
            85, 86, 95, 96, 99,
        ] {
            assert_ne!(condition(code), "Unknown conditions", "{code}");
            assert_ne!(icon(code, true), "❔", "{code}");
        }
        assert_eq!(condition(42), "Unknown conditions");
    }
}
