//! Builds record-service from its settings: the recorder's pages and API, and the projection
//! of record events into PostgreSQL, which runs as a task of the same process.

use std::sync::Arc;
use std::time::Duration;

use warren_messages::Publisher;
use warren_messages::exactly_once::{self, Retention};
use warren_messages::topology::RECORD_SERVICE_RECORDS;
use warren_service_kit::limits::Limiter;
use warren_service_kit::web::Csrf;
use warren_service_kit::{Application, Startup};

use crate::configuration::Settings;
use crate::consumers::records::RecordProjection;
use crate::operators::Operators;
use crate::routes::{self, State};
use crate::weather::WeatherClient;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = warren_manifest::RECORD_SERVICE.name;

/// Migrates the records database, then binds the HTTP listener and prepares the consumer. The
/// users and accounts databases are only read (who may delete), each checked at `/readyz`.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut start = Startup::new(SERVICE, &settings)?;
    let pool = start
        .owned_postgres(&settings.postgres, warren_store_records::migrations())
        .await?;
    let operators = Operators::new(
        start.postgres_for(&warren_manifest::ACCOUNTS_DB, &settings.accounts)?,
        start.postgres_for(&warren_manifest::USERS_DB, &settings.users)?,
    );
    let consumer = start.consumer(
        RECORD_SERVICE_RECORDS,
        RecordProjection::new(pool.clone()),
        &settings.consumer,
    );
    settings
        .weather
        .search_limit
        .validate("weather.search_limit")?;
    let retained = pool.clone();
    let state = Arc::new(State {
        pool,
        publisher: Publisher::new(start.broker()),
        weather: WeatherClient::new(settings.weather.clone())?,
        csrf: Csrf::from_settings(&settings.web.csrf_secret, "warren-records")?,
        seals: Csrf::from_settings(&settings.web.csrf_secret, "warren-record-observation")?,
        max_body_bytes: settings.web.max_body_bytes,
        settle: Duration::from_millis(settings.web.settle_ms),
        operators,
        sign_in_url: settings.web.sign_in_url.clone(),
        search_limit: Limiter::new(settings.weather.search_limit),
        clients: settings.http.trusted_proxies.clone(),
    });
    Ok(start
        .bind()
        .await?
        .with_routes(routes::routes(state))
        .with_route_templates(&[
            "/",
            "/records",
            "/records/:id/delete",
            "/api/records",
            "/api/records/:id",
            "/api/search",
            "/static/:asset",
        ])
        .with_task(move |stopping| consumer.run(stopping.wait()))
        // Records are inserted once by their id and deletions are remembered, so an event
        // that arrives after its claim was pruned has no second effect.
        .with_task(move |stopping| {
            exactly_once::keep_pruned(retained, Retention::default(), stopping.wait())
        }))
}
