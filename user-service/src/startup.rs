//! Builds user-service from its settings: its consumer, the outbox relay, the pruning of
//! applied message ids, its migrations and its operational endpoints.

use std::sync::Arc;

use tokio::sync::Notify;
use warren_messages::topology::USER_SERVICE_USERS;
use warren_messages::{Broker, Consumer, exactly_once};
use warren_service_kit::{
    Application,
    ops::{self, Readiness},
    postgres,
};

use crate::configuration::Settings;
use crate::consumers::users::UserDesk;
use crate::outbox::Relay;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = "user-service";

/// The name of the connection the outbox relay publishes on.
pub const PUBLISHER_CONNECTION: &str = "user-service publisher";

/// Migrates the users database, then binds the HTTP listener and prepares the consumer, the
/// outbox relay and the pruning task.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    ops::install_metrics();
    let broker = Arc::new(Broker::new(settings.broker.clone(), SERVICE)?);
    // Publishing has a connection of its own: the broker blocks a connection that publishes
    // during a resource alarm, and the consumer's acks must not wait behind it.
    let publishing = Arc::new(Broker::new(settings.broker.clone(), PUBLISHER_CONNECTION)?);
    let pool = postgres::pool(&settings.postgres)?;
    postgres::migrate(&pool, migrations()).await?;
    let readiness = Readiness::new()
        .with_postgres(pool.clone())
        .with_check("publisher", {
            let publishing = publishing.clone();
            move || {
                let publishing = publishing.clone();
                async move { Ok(publishing.ping().await?) }
            }
        });
    let staged = Arc::new(Notify::new());
    let consumer = Consumer::new(
        broker.clone(),
        USER_SERVICE_USERS,
        UserDesk::new(pool.clone(), staged.clone()),
        settings.consumer.clone(),
    );
    let relay = Relay::new(pool.clone(), publishing, settings.outbox.clone(), staged);
    let retention = settings.applied_messages.clone();
    Ok(
        Application::bind(SERVICE, &settings.http, broker, readiness)
            .await?
            .with_task(move |stopping| consumer.run(stopping.wait()))
            .with_task(move |stopping| relay.run(stopping.wait()))
            .with_task(move |stopping| exactly_once::keep_pruned(pool, retention, stopping.wait())),
    )
}

/// The users read model's schema, which this service owns as its only writer.
fn migrations() -> refinery::Runner {
    warren_store_users::migrations()
}
