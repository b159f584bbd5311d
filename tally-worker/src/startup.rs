//! Builds tally-worker from its settings: the vote consumer, the pruning of applied message ids
//! and its operational endpoints.

use warren_messages::exactly_once::{self, Retention};
use warren_messages::topology::TALLY_VOTES;
use warren_service_kit::{Application, Startup};

use crate::configuration::Settings;
use crate::consumers::votes::VoteProjection;

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = warren_manifest::TALLY_WORKER.name;

/// Migrates the votes database, then binds the HTTP listener and prepares the consumer.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut start = Startup::new(SERVICE, &settings)?;
    let pool = start
        .owned_postgres(&settings.postgres, warren_store_votes::migrations())
        .await?;
    let consumer = start.consumer(
        TALLY_VOTES,
        VoteProjection::new(pool.clone()),
        &settings.consumer,
    );
    Ok(start
        .bind()
        .await?
        .with_task(move |stopping| consumer.run(stopping.wait()))
        // The counted vote is idempotent by its state (a vote never moves backwards), so a
        // vote that arrives after its claim was pruned (past the seven-day horizon) leaves
        // the tally as it was; only the voter's `applied_votes` would count it again.
        .with_task(move |stopping| {
            exactly_once::keep_pruned(pool, Retention::default(), stopping.wait())
        }))
}
