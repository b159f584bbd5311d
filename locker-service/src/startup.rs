//! Builds locker-service from its settings: its indexes, its consumer (which publishes every
//! outcome on a connection of its own) and its operational endpoints.

use warren_messages::Publisher;
use warren_messages::topology::LOCKER_SERVICE_LOCKERS;
use warren_service_kit::{Application, Startup};

use crate::configuration::Settings;
use crate::consumers::lockers::LockerDesk;
use crate::store;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = warren_manifest::LOCKER_SERVICE.name;

/// The name of the connection the outcomes are published on.
pub const PUBLISHER_CONNECTION: &str = "locker-service publisher";

/// Creates the lockers' indexes, then binds the HTTP listener and prepares the consumer.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut start = Startup::new(SERVICE, &settings)?;
    let publishing = start.publishing_connection(PUBLISHER_CONNECTION)?;
    let database = start.mongo(&settings.mongo).await?;
    store::prepare(&database).await?;
    let consumer = start.consumer(
        LOCKER_SERVICE_LOCKERS,
        LockerDesk::new(database, Publisher::new(publishing.clone())),
        &settings.consumer,
    );
    Ok(start.bind().await?.with_task(move |stopping| async move {
        consumer.run(stopping.wait()).await;
        // The consumer has stopped, so nothing publishes any more.
        publishing.close().await;
    }))
}
