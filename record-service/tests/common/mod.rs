//! The weather recorder as the tests run it: record-service on a fresh vhost and database of
//! the test cluster, with a local stand-in for Open-Meteo that serves the committed fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod accounts;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Reply;
use warren_messages::topology::RECORD_SERVICE_RECORDS;
use warren_testkit::{Running, broker_settings, postgres_database, spawn, vhost_with};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/open-meteo"
    ))
}

fn fixture(path: &str) -> Option<String> {
    std::fs::read_to_string(fixtures().join(path)).ok()
}

fn json(body: String, status: StatusCode) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::with_header(body, "content-type", "application/json"),
        status,
    )
    .into_response()
}

/// A stand-in for Open-Meteo's geocoding and forecast APIs, answering from the fixtures; a
/// silent one takes requests and never answers (a provider too slow for any timeout).
pub struct StandIn {
    pub url: String,
    /// How many requests it has been sent.
    requests: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    pub async fn start(silent: bool) -> Self {
        let search = warp::path!("v1" / "search")
            .and(warp::query::<HashMap<String, String>>())
            .map(|query: HashMap<String, String>| {
                let name = query
                    .get("name")
                    .cloned()
                    .unwrap_or_default()
                    .to_lowercase();
                let body = fixture(&format!("geocoding/{name}.json"))
                    .unwrap_or_else(|| fixture("geocoding/no-results.json").unwrap());
                json(body, StatusCode::OK)
            });
        let forecast = warp::path!("v1" / "forecast")
            .and(warp::query::<HashMap<String, String>>())
            .map(|query: HashMap<String, String>| {
                let at = format!(
                    "{}_{}",
                    query.get("latitude").cloned().unwrap_or_default(),
                    query.get("longitude").cloned().unwrap_or_default()
                );
                match fixture(&format!("forecast/{at}.json")) {
                    Some(body) => json(body, StatusCode::OK),
                    None => json(
                        r#"{"error": true, "reason": "Latitude must be in range of -90 to 90°."}"#
                            .to_owned(),
                        StatusCode::BAD_REQUEST,
                    ),
                }
            });
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let routes = warp::any()
            .map(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .untuple_one()
            .and_then(move || async move {
                if silent {
                    std::future::pending::<()>().await;
                }
                Ok::<_, std::convert::Infallible>(())
            })
            .untuple_one()
            .and(search.or(forecast).unify());
        let (listener, port) = warren_testkit::local_listener().await;
        let server = warp::serve(routes).incoming(listener).run();
        StandIn {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            _task: tokio::spawn(server),
        }
    }

    /// How many requests it has been sent so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A base URL where nothing listens: the provider is down.
pub fn nowhere() -> String {
    format!("http://127.0.0.1:{}", warren_testkit::free_port())
}

pub fn weather_settings(url: &str, timeout_ms: u64) -> record_service::weather::WeatherSettings {
    record_service::weather::WeatherSettings {
        geocoding_url: url.to_owned(),
        forecast_url: url.to_owned(),
        timeout_ms,
        max_places: 10,
        cache_ttl_ms: 60_000,
        cache_entries: 1_000,
        search_limit: warren_service_kit::limits::RateLimit {
            burst: 30,
            per_second: 1.0,
        },
    }
}

pub struct System {
    pub service: Running,
    pub vhost: String,
    /// The users and accounts it reads to know who may delete.
    pub accounts: accounts::Accounts,
    /// Its records database, for a test's own look at the rows.
    pub records: warren_service_kit::postgres::PostgresSettings,
    pub stand_in: Option<StandIn>,
}

/// record-service against `provider` (a stand-in serving the fixtures by default).
pub async fn system_with(provider: Option<String>) -> System {
    system_configured(provider, |_| {}).await
}

/// The same with the settings changed by `configure`.
pub async fn system_configured(
    provider: Option<String>,
    configure: impl FnOnce(&mut record_service::configuration::Settings),
) -> System {
    let stand_in = match provider {
        Some(_) => None,
        None => Some(StandIn::start(false).await),
    };
    let url = provider.unwrap_or_else(|| stand_in.as_ref().unwrap().url.clone());
    let vhost = vhost_with(&[RECORD_SERVICE_RECORDS]).await;
    let mut settings: record_service::configuration::Settings =
        warren_testkit::settings(record_service::configuration::DEFAULTS);
    settings.broker = broker_settings("record-service", &vhost);
    settings.postgres = postgres_database().await;
    settings.weather = weather_settings(&url, 2_000);
    let accounts = accounts::Accounts::create().await;
    settings.users = accounts.users_settings();
    settings.accounts = accounts.accounts_settings();
    configure(&mut settings);
    let records = settings.postgres.clone();
    let service = spawn(record_service::startup::build(settings).await.unwrap());
    System {
        service,
        vhost,
        accounts,
        records,
        stand_in,
    }
}

pub async fn system() -> System {
    system_with(None).await
}

/// Presses Record on a page that shows the weather: sends its form as a browser would.
pub async fn press_record(client: &reqwest::Client, base: &str, page: &str) -> reqwest::Response {
    let form = warren_testkit::web::form_fields(page, "/records")
        .unwrap_or_else(|| panic!("no Record button on {page}"));
    client
        .post(format!("{base}/records"))
        .form(&form)
        .send()
        .await
        .unwrap()
}
