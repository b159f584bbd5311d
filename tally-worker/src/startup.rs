//! Builds tally-worker from its settings.

use std::sync::Arc;

use warren_messages::Broker;
use warren_service_kit::{
    Application,
    ops::{self, Readiness},
    postgres,
};

use crate::configuration::Settings;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = "tally-worker";

/// Connects what it needs lazily and binds the HTTP listener (port 0 picks a free one).
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    ops::install_metrics();
    let broker = Arc::new(Broker::new(settings.broker.clone(), SERVICE)?);
    let mut readiness = Readiness::new();
    let pool = postgres::pool(&settings.postgres)?;
    postgres::migrate(&pool, migrations()).await?;
    readiness = readiness.with_postgres(pool);
    Application::bind(SERVICE, &settings.http, broker, readiness).await
}

/// The database migrations this service owns, after the shared exactly-once table.
fn migrations() -> refinery::Runner {
    refinery::Runner::new(&warren_messages::exactly_once::migrations())
}
