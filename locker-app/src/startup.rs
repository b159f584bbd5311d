//! Builds locker-app from its settings and runs it until stopped.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use warren_messages::Broker;
use warren_service_kit::{
    http, mongo,
    ops::{self, Readiness},
    postgres,
};

use crate::configuration::Settings;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = "locker-app";

pub struct Application {
    listener: TcpListener,
    broker: Arc<Broker>,
    readiness: Readiness,
}

impl Application {
    /// Connects what it needs lazily and binds the HTTP listener (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        ops::install_metrics();
        let broker = Arc::new(Broker::new(settings.broker.clone(), SERVICE)?);
        let mut readiness = Readiness::new().with_broker(broker.clone());
        let pool = postgres::pool(&settings.postgres)?;
        readiness = readiness.with_postgres(pool.clone());
        let lockers = mongo::database(&settings.mongo, SERVICE).await?;
        readiness = readiness.with_mongo(lockers.clone());
        let listener = http::bind(&settings.http).await?;
        Ok(Self {
            listener,
            broker,
            readiness,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|address| address.port())
            .unwrap_or(0)
    }

    /// Serves until `shutdown` completes, then closes the broker connection.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let routes = ops::routes(SERVICE, self.readiness);
        http::serve(self.listener, routes, shutdown).await;
        self.broker.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
