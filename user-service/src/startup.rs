//! Builds user-service from its settings: its consumer, its migrations and its operational
//! endpoints.

use std::sync::Arc;

use warren_messages::topology::USER_SERVICE_USERS;
use warren_messages::{Broker, Consumer, Publisher};
use warren_service_kit::{
    Application,
    ops::{self, Readiness},
    postgres,
};

use crate::configuration::Settings;
use crate::consumers::users::UserDesk;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = "user-service";

/// Migrates the users database, then binds the HTTP listener and prepares the consumer.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    ops::install_metrics();
    let broker = Arc::new(Broker::new(settings.broker.clone(), SERVICE)?);
    let pool = postgres::pool(&settings.postgres)?;
    postgres::migrate(&pool, migrations()).await?;
    let readiness = Readiness::new().with_postgres(pool.clone());
    let consumer = Consumer::new(
        broker.clone(),
        USER_SERVICE_USERS,
        UserDesk::new(pool, Publisher::new(broker.clone())),
        settings.consumer.clone(),
    );
    Ok(
        Application::bind(SERVICE, &settings.http, broker, readiness)
            .await?
            .with_task(move |stopping| consumer.run(stopping.wait())),
    )
}

/// The shared exactly-once table, then this service's own tables.
fn migrations() -> refinery::Runner {
    let mut migrations = warren_messages::exactly_once::migrations();
    migrations.push(
        refinery::Migration::unapplied("V2__users", include_str!("../migrations/V2__users.sql"))
            .expect("the users migration has a valid name"),
    );
    refinery::Runner::new(&migrations)
}
