//! PostgreSQL connection pools and migrations from settings.

use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_postgres::NoTls;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    /// A `postgres://user@host:port/database` URL, best without the password.
    pub url: SecretString,
    /// The password, kept apart from the URL so it never appears in a log line.
    pub password: SecretString,
    pub pool_size: usize,
    pub connect_timeout_ms: u64,
}

impl PostgresSettings {
    pub fn config(&self) -> anyhow::Result<tokio_postgres::Config> {
        let mut config: tokio_postgres::Config = self
            .url
            .expose_secret()
            .parse()
            .context("postgres.url is not a valid PostgreSQL URL")?;
        if !self.password.expose_secret().is_empty() {
            config.password(self.password.expose_secret());
        }
        config.connect_timeout(Duration::from_millis(self.connect_timeout_ms));
        Ok(config)
    }

    /// The database the URL names, for log lines (never the URL itself).
    pub fn database(&self) -> String {
        self.config()
            .ok()
            .and_then(|config| config.get_dbname().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// A pool that connects on demand: building it never fails because the server is down.
pub fn pool(settings: &PostgresSettings) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        settings.config()?,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .create_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("building the PostgreSQL pool")
}

/// Succeeds while the server answers a query.
pub async fn ping(pool: &Pool) -> anyhow::Result<()> {
    let client = pool.get().await.context("no PostgreSQL connection")?;
    client
        .simple_query("SELECT 1")
        .await
        .context("PostgreSQL did not answer")?;
    Ok(())
}

/// A store's migrations: the shared exactly-once table (`applied_messages`, version 1) first,
/// then the store's own (from version 2), as `refinery::embed_migrations!` embeds them.
pub fn after_claims(own: &refinery::Runner) -> refinery::Runner {
    let mut migrations = warren_messages::exactly_once::migrations();
    migrations.extend(own.get_migrations().iter().cloned());
    refinery::Runner::new(&migrations)
}

/// Applies the embedded migrations of the service that owns this database.
pub async fn migrate(pool: &Pool, runner: refinery::Runner) -> anyhow::Result<()> {
    let mut client = pool
        .get()
        .await
        .context("no PostgreSQL connection for migrations")?;
    let client: &mut tokio_postgres::Client = &mut client;
    let report = runner
        .run_async(client)
        .await
        .context("applying migrations")?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "migration applied");
    }
    Ok(())
}
