//! Builds locker-service from its settings: its indexes, its consumer and its operational
//! endpoints.

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

/// Creates the lockers' indexes, then binds the HTTP listener and prepares the consumer.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    ops::install_metrics();
    let broker = Arc::new(Broker::new(settings.broker.clone(), SERVICE)?);
    let database = mongo::database(&settings.mongo, SERVICE).await?;
    store::prepare(&database).await?;
    let readiness = Readiness::new().with_mongo(database.clone());
    let consumer = Consumer::new(
        broker.clone(),
        LOCKER_SERVICE_LOCKERS,
        LockerDesk::new(database, Publisher::new(broker.clone())),
        settings.consumer.clone(),
    );
    Ok(
        Application::bind(SERVICE, &settings.http, broker, readiness)
            .await?
            .with_task(move |stopping| consumer.run(stopping.wait())),
    )
}
