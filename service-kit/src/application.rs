//! A running Warren service: its HTTP listener, its broker connection, and the dependencies
//! it reports on at `/readyz`. Each service's `startup::build` assembles one from its settings;
//! `main` and the tests then run the same thing.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use warren_messages::Broker;

use crate::configuration::HttpSettings;
use crate::http;
use crate::ops::{self, Readiness};

pub struct Application {
    name: &'static str,
    listener: TcpListener,
    broker: Arc<Broker>,
    readiness: Readiness,
}

impl Application {
    /// Binds the listener now (port 0 picks a free one); the broker is a readiness dependency.
    pub async fn bind(
        name: &'static str,
        settings: &HttpSettings,
        broker: Arc<Broker>,
        readiness: Readiness,
    ) -> anyhow::Result<Self> {
        let listener = http::bind(settings).await?;
        Ok(Self {
            name,
            listener,
            readiness: readiness.with_broker(broker.clone()),
            broker,
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
        let routes = ops::routes(self.name, self.readiness);
        http::serve(self.listener, routes, shutdown).await;
        self.broker.close().await;
        tracing::info!(service = self.name, "stopped");
        Ok(())
    }
}
