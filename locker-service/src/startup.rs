//! Builds locker-service from its settings.

use std::sync::Arc;

use warren_messages::Broker;
use warren_service_kit::{
    Application, mongo,
    ops::{self, Readiness},
};

use crate::configuration::Settings;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = "locker-service";

/// Connects what it needs lazily and binds the HTTP listener (port 0 picks a free one).
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    ops::install_metrics();
    let broker = Arc::new(Broker::new(settings.broker.clone(), SERVICE)?);
    let mut readiness = Readiness::new();
    let lockers = mongo::database(&settings.mongo, SERVICE).await?;
    readiness = readiness.with_mongo(lockers);
    Application::bind(SERVICE, &settings.http, broker, readiness).await
}
