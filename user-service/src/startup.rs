//! Builds user-service from its settings: its consumer, the outbox relay, the pruning of
//! applied message ids, its migrations and its operational endpoints.

use std::sync::Arc;

use tokio::sync::Notify;
use warren_messages::exactly_once;
use warren_messages::topology::USER_SERVICE_USERS;
use warren_service_kit::{Application, Startup};

use crate::configuration::Settings;
use crate::consumers::users::UserDesk;
use crate::outbox::Relay;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = warren_manifest::USER_SERVICE.name;

/// The name of the connection the outbox relay publishes on.
pub const PUBLISHER_CONNECTION: &str = "user-service publisher";

/// Migrates the users database, then binds the HTTP listener and prepares the consumer, the
/// outbox relay and the pruning task.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut start = Startup::new(SERVICE, &settings)?;
    let publishing = start.publishing_connection(PUBLISHER_CONNECTION)?;
    let pool = start
        .owned_postgres(&settings.postgres, warren_store_users::migrations())
        .await?;
    let staged = Arc::new(Notify::new());
    let consumer = start.consumer(
        USER_SERVICE_USERS,
        UserDesk::new(pool.clone(), staged.clone()),
        &settings.consumer,
    );
    let relay = Relay::new(pool.clone(), publishing, settings.outbox.clone(), staged);
    let retention = settings.applied_messages.clone();
    Ok(start
        .bind()
        .await?
        .with_task(move |stopping| consumer.run(stopping.wait()))
        .with_task(move |stopping| relay.run(stopping.wait()))
        .with_task(move |stopping| exactly_once::keep_pruned(pool, retention, stopping.wait())))
}
