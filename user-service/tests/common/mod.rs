//! What the outbox and retention tests share: user-service's settings on a fresh database.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use deadpool_postgres::Pool;
use user_service::configuration::{DEFAULTS, Settings};
use user_service::startup::{SERVICE, build};
use warren_messages::topology::{LOCKER_SERVICE_LOCKERS, USER_SERVICE_USERS};
use warren_service_kit::postgres;
use warren_testkit::{broker_settings, postgres_database, vhost_with};

pub const WITHIN: Duration = Duration::from_secs(30);

/// user-service's settings on a fresh database and `vhost`, with its schema migrated.
pub async fn settings(vhost: &str) -> (Settings, Pool) {
    let mut settings: Settings = warren_testkit::settings(DEFAULTS);
    settings.broker = broker_settings(SERVICE, vhost);
    settings.postgres = postgres_database().await;
    // Building migrates the database; this instance never runs.
    drop(build(settings.clone()).await.unwrap());
    let pool = postgres::pool(&settings.postgres).unwrap();
    (settings, pool)
}

/// A fresh vhost with user-service's and locker-service's queues, and user-service's settings
/// for it as [`settings`] makes them.
pub async fn with_both_queues() -> (String, Settings, Pool) {
    let vhost = vhost_with(&[USER_SERVICE_USERS, LOCKER_SERVICE_LOCKERS]).await;
    let (settings, pool) = settings(&vhost).await;
    (vhost, settings, pool)
}
