//! Builds locker-service from its settings: its indexes, its consumer (which publishes every
//! outcome on a connection of its own) and its operational endpoints.

use std::sync::Arc;

use warren_messages::topology::LOCKER_SERVICE_LOCKERS;
use warren_messages::{Broker, Consumer, Publisher};
use warren_service_kit::{
    Application, mongo,
    ops::{self, Readiness},
};

use crate::configuration::Settings;
use crate::consumers::lockers::LockerDesk;
use crate::store;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = "locker-service";

/// The name of the connection the outcomes are published on.
pub const PUBLISHER_CONNECTION: &str = "locker-service publisher";

/// Creates the lockers' indexes, then binds the HTTP listener and prepares the consumer.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    ops::install_metrics();
    let broker = Arc::new(Broker::new(settings.broker.clone(), SERVICE)?);
    // Publishing has a connection of its own: the broker blocks a connection that publishes
    // during a resource alarm (and TCP backpressure stalls it), and the consumer's acks must not
    // wait behind it.
    let publishing = Arc::new(Broker::new(settings.broker.clone(), PUBLISHER_CONNECTION)?);
    let database = mongo::database(&settings.mongo, SERVICE).await?;
    store::prepare(&database).await?;
    let readiness = Readiness::new()
        .with_mongo(database.clone())
        .with_check("publisher", {
            let publishing = publishing.clone();
            move || {
                let publishing = publishing.clone();
                async move { Ok(publishing.ping().await?) }
            }
        });
    let consumer = Consumer::new(
        broker.clone(),
        LOCKER_SERVICE_LOCKERS,
        LockerDesk::new(database, Publisher::new(publishing.clone())),
        settings.consumer.clone(),
    );
    Ok(
        Application::bind(SERVICE, &settings.http, broker, readiness)
            .await?
            .with_task(move |stopping| async move {
                consumer.run(stopping.wait()).await;
                // The consumer has stopped, so nothing publishes any more.
                publishing.close().await;
            }),
    )
}
