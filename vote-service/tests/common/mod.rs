//! The voting app as the tests run it: vote-service (in process) and tally-worker (its binary,
//! as a child process) on a fresh vhost and database of the test cluster.
#![allow(clippy::unwrap_used, dead_code)]

use reqwest::Client;
use secrecy::SecretString;
use serde_json::{Value, json};
use vote_service::configuration::Settings;
use warren_manifest::{TALLY_WORKER, VOTE_SERVICE, VOTES_DB};
use warren_messages::topology::TALLY_VOTES;
use warren_service_kit::postgres::PostgresSettings;
use warren_testkit::services::{Process, Wiring};
use warren_testkit::web::{hidden, page};
use warren_testkit::{Management, Running, TestDatabase, broker_settings, spawn, vhost_with};

/// tally-worker, started from its binary.
pub struct Worker(Process);

impl Worker {
    /// Stops it as SIGTERM does, and waits until it has finished its work in flight.
    pub async fn stop(mut self) {
        let status = self.0.stop().await;
        assert!(status.success(), "tally-worker exited with {status}");
    }
}

pub struct System {
    pub vote: Running,
    pub worker: Option<Worker>,
    pub vhost: String,
    /// The votes database, as the administrator (for the test's own look at the rows).
    pub database: PostgresSettings,
    /// vote-service's settings, to start more instances of it.
    pub settings: Settings,
    /// What tally-worker is started with.
    pub wiring: Wiring,
}

pub async fn system(with_worker: bool) -> System {
    system_with(with_worker, |_| {}).await
}

/// The system with vote-service's settings changed by `configure`.
pub async fn system_with(with_worker: bool, configure: impl FnOnce(&mut Settings)) -> System {
    system_on(vhost_with(&[TALLY_VOTES]).await, with_worker, configure).await
}

/// The system on `vhost` (which holds the votes queue), with vote-service's settings changed
/// by `configure`.
pub async fn system_on(
    vhost: String,
    with_worker: bool,
    configure: impl FnOnce(&mut Settings),
) -> System {
    let database = TestDatabase::create(VOTES_DB).await;
    // tally-worker owns the schema: it migrates (and grants vote-service its reads) even when it
    // is not left running.
    let wiring = Wiring::new(vhost.clone()).with_postgres(database.clone());
    let worker = Worker(wiring.start(TALLY_WORKER).await);
    let worker = if with_worker {
        Some(worker)
    } else {
        worker.stop().await;
        None
    };
    let mut settings: Settings = warren_testkit::settings(vote_service::configuration::DEFAULTS);
    settings.broker = broker_settings("vote-service", &vhost);
    settings.postgres = database.as_service(&VOTE_SERVICE);
    settings.web.results_refresh_ms = 50;
    // Shared, as every instance behind one address needs.
    settings.web.csrf_secret = SecretString::from("vote-service test secret, 32 bytes or more");
    configure(&mut settings);
    let vote = spawn(
        vote_service::startup::build(settings.clone())
            .await
            .unwrap(),
    );
    System {
        vote,
        worker,
        vhost,
        database: database.as_admin(),
        settings,
        wiring,
    }
}

impl System {
    /// Starts tally-worker (again) on this system's vhost and database.
    pub async fn start_worker(&mut self) {
        self.worker = Some(Worker(self.wiring.start(TALLY_WORKER).await));
    }

    /// One more vote-service instance like the first, with its settings changed by `configure`.
    pub async fn another_instance(&self, configure: impl FnOnce(&mut Settings)) -> Running {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        spawn(vote_service::startup::build(settings).await.unwrap())
    }

    /// The messages waiting in the votes queue (left there), as the management API shows them.
    pub async fn queued(&self) -> Vec<Value> {
        let messages = Management::new()
            .post_json(
                &format!("queues/{}/{}/get", self.vhost, TALLY_VOTES.name),
                &json!({"count": 100, "ackmode": "reject_requeue_true", "encoding": "auto"}),
            )
            .await;
        messages.as_array().unwrap().clone()
    }
}

/// A ballot as the page gave it: its CSRF token and attempt id.
#[derive(Debug, Clone)]
pub struct Ballot {
    pub csrf: String,
    pub attempt: String,
    pub page: String,
}

impl Ballot {
    /// The form's fields with `option` chosen.
    pub fn form(&self, option: &str) -> Vec<(&'static str, String)> {
        vec![
            ("vote", option.to_owned()),
            ("csrf", self.csrf.clone()),
            ("attempt", self.attempt.clone()),
        ]
    }

    /// The attempt id, as the message id it becomes.
    pub fn message_id(&self) -> String {
        let id = self.attempt.split('.').next().unwrap();
        uuid::Uuid::parse_str(id).unwrap().to_string()
    }
}

/// Loads the ballot from `base` (the voter cookie stays in `client`).
pub async fn ballot(client: &Client, base: &Running) -> Ballot {
    let page = page(client, &base.url("/")).await;
    Ballot {
        csrf: hidden(&page, "csrf").unwrap(),
        attempt: hidden(&page, "attempt").unwrap(),
        page,
    }
}

/// Sends `form` to `base`'s `/vote`.
pub async fn send(client: &Client, base: &Running, form: &[(&str, String)]) -> reqwest::Response {
    client
        .post(base.url("/vote"))
        .form(form)
        .send()
        .await
        .unwrap()
}
