//! tally-worker as the tests run it.
#![allow(clippy::unwrap_used, dead_code)]

use tally_worker::configuration::{DEFAULTS, Settings};
use tally_worker::startup::{SERVICE, build};
use warren_service_kit::postgres::PostgresSettings;
use warren_testkit::{Running, broker_settings, spawn};

/// tally-worker on `vhost` and `database`, running in the background.
pub async fn worker(vhost: &str, database: &PostgresSettings) -> Running {
    let mut settings: Settings = warren_testkit::settings(DEFAULTS);
    settings.broker = broker_settings(SERVICE, vhost);
    settings.postgres = database.clone();
    spawn(build(settings).await.unwrap())
}
