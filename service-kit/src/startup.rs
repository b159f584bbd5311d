//! The steps every service's start shares: `run` (settings, telemetry, build, serve until
//! SIGTERM) and `Startup`, which makes the metrics recorder, the broker connection and the
//! database clients, each a readiness dependency, before the service adds its own parts.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use deadpool_postgres::Pool;
use serde::de::DeserializeOwned;
use warren_messages::topology::ConsumerQueue;
use warren_messages::{Broker, Consumer, ConsumerSettings, Decode, Handler};

use crate::application::Application;
use crate::configuration::{AdminSettings, HttpSettings, Settings};
use crate::mongo::{self, MongoSettings};
use crate::ops::{self, Readiness};
use crate::postgres::{self, PostgresSettings};
use crate::{shutdown, telemetry};

/// A service's whole `main`: loads its settings over `defaults_toml`, initialises telemetry,
/// builds the application and serves it until SIGTERM or Ctrl-C.
pub fn run<T, F, Fut>(service: &'static str, defaults_toml: &str, build: F) -> anyhow::Result<()>
where
    T: DeserializeOwned,
    F: FnOnce(Settings<T>) -> Fut,
    Fut: Future<Output = anyhow::Result<Application>>,
{
    let settings = Settings::<T>::load(defaults_toml)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(async move {
            telemetry::init(service, &settings.telemetry);
            build(settings)
                .await?
                .run_until_stopped(shutdown::signal())
                .await
        })
}

/// What a service has made so far on its way to an `Application`.
pub struct Startup {
    service: &'static str,
    http: HttpSettings,
    admin: AdminSettings,
    broker: Arc<Broker>,
    readiness: Readiness,
}

impl Startup {
    /// Installs the metrics recorder and makes the service's broker connection, named after
    /// the service (it connects on demand, so a broker that is down fails nothing here).
    pub fn new<T>(service: &'static str, settings: &Settings<T>) -> anyhow::Result<Self> {
        ops::install_metrics();
        Ok(Self {
            service,
            http: settings.http.clone(),
            admin: settings.admin.clone(),
            broker: Arc::new(Broker::new(settings.broker.clone(), service)?),
            readiness: Readiness::new(),
        })
    }

    /// The service's broker connection, which its consumers and publishers share.
    pub fn broker(&self) -> Arc<Broker> {
        self.broker.clone()
    }

    /// A consumer of `queue` on the service's broker connection, for the service to run as a
    /// task of its `Application`.
    pub fn consumer<M: Decode, H: Handler<M>>(
        &self,
        queue: ConsumerQueue,
        handler: H,
        settings: &ConsumerSettings,
    ) -> Consumer<M, H> {
        Consumer::new(self.broker(), queue, handler, settings.clone())
    }

    /// A second connection, `name`, for publishing, checked at `/readyz` as `publisher`. The
    /// broker blocks a connection that publishes during a resource alarm (and TCP backpressure
    /// stalls it), and a consumer's acks must not wait behind it.
    pub fn publishing_connection(&mut self, name: &str) -> anyhow::Result<Arc<Broker>> {
        let publishing = Arc::new(Broker::new(self.broker.settings().clone(), name)?);
        let checked = publishing.clone();
        self.readiness = std::mem::take(&mut self.readiness).with_check("publisher", move || {
            let checked = checked.clone();
            async move { Ok(checked.ping().await?) }
        });
        Ok(publishing)
    }

    /// A PostgreSQL pool (it connects on demand) for the service's `[postgres]` section, checked
    /// at `/readyz` as "postgres".
    pub fn postgres(&mut self, settings: &PostgresSettings) -> anyhow::Result<Pool> {
        self.postgres_checked_as("postgres", settings)
    }

    /// A pool for another database the manifest gives this service (through a section of its
    /// own, e.g. `[users]`), checked at `/readyz` under that section's name.
    pub fn postgres_for(
        &mut self,
        database: &warren_manifest::Database,
        settings: &PostgresSettings,
    ) -> anyhow::Result<Pool> {
        let section = self.postgres_use(|p| p.database == *database)?.section;
        self.postgres_checked_as(section.name, settings)
    }

    fn postgres_checked_as(
        &mut self,
        check: &'static str,
        settings: &PostgresSettings,
    ) -> anyhow::Result<Pool> {
        let pool = postgres::pool(settings)?;
        self.readiness = std::mem::take(&mut self.readiness).with_postgres(check, pool.clone());
        Ok(pool)
    }

    /// How the manifest says this service uses a database, the first that `matches`.
    fn postgres_use(
        &self,
        matches: impl Fn(&warren_manifest::PostgresUse) -> bool,
    ) -> anyhow::Result<&'static warren_manifest::PostgresUse> {
        warren_manifest::Service::named(self.service)
            .and_then(|service| service.postgres.iter().find(|p| matches(p)))
            .with_context(|| {
                format!(
                    "warren-manifest gives {} no such PostgreSQL database",
                    self.service
                )
            })
    }

    /// A pool for the database this service owns, brought to `migrations` (the schema of the
    /// store crate it writes) before anything else starts, its readers then granted exactly the
    /// tables they read (`postgres::grant_readers`); checked at `/readyz` under its section's
    /// name.
    pub async fn owned_postgres(
        &mut self,
        settings: &PostgresSettings,
        migrations: refinery::Runner,
    ) -> anyhow::Result<Pool> {
        let owned = self.postgres_use(|p| p.access == warren_manifest::Access::Owner)?;
        let pool = self.postgres_checked_as(owned.section.name, settings)?;
        postgres::migrate(&pool, migrations).await?;
        postgres::grant_readers(&pool, &owned.database).await?;
        Ok(pool)
    }

    /// A MongoDB database (its client connects lazily), checked at `/readyz`.
    pub async fn mongo(&mut self, settings: &MongoSettings) -> anyhow::Result<mongodb::Database> {
        let database = mongo::database(settings, self.service).await?;
        self.readiness = std::mem::take(&mut self.readiness).with_mongo(database.clone());
        Ok(database)
    }

    /// Binds the public and admin listeners (port 0 picks a free one); the broker joins the
    /// readiness checks.
    pub async fn bind(self) -> anyhow::Result<Application> {
        Application::bind(
            self.service,
            &self.http,
            &self.admin,
            self.broker,
            self.readiness,
        )
        .await
    }
}
