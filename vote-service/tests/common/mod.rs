//! The voting app as the tests run it: vote-service and tally-worker on a fresh vhost and
//! database of the test cluster.
#![allow(clippy::unwrap_used, dead_code)]

use warren_messages::topology::TALLY_VOTES;
use warren_testkit::{Running, broker_settings, postgres_database, spawn, vhost_with};

pub struct System {
    pub vote: Running,
    pub worker: Option<Running>,
    pub vhost: String,
}

pub async fn system(with_worker: bool) -> System {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let database = postgres_database().await;
    // tally-worker owns the schema: it migrates even when it is not left running.
    let mut worker_settings: tally_worker::configuration::Settings =
        warren_testkit::settings(tally_worker::configuration::DEFAULTS);
    worker_settings.broker = broker_settings("tally-worker", &vhost);
    worker_settings.postgres = database.clone();
    let worker = spawn(tally_worker::startup::build(worker_settings).await.unwrap());
    let worker = if with_worker {
        Some(worker)
    } else {
        worker.stop().await;
        None
    };
    let mut settings: vote_service::configuration::Settings =
        warren_testkit::settings(vote_service::configuration::DEFAULTS);
    settings.broker = broker_settings("vote-service", &vhost);
    settings.postgres = database;
    settings.web.results_refresh_ms = 50;
    let vote = spawn(vote_service::startup::build(settings).await.unwrap());
    System {
        vote,
        worker,
        vhost,
    }
}
