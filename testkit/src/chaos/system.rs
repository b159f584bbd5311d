//! The services of one run as real processes (so that a kill -9 is a process dying), each
//! consumer scaled out, on their own vhost and databases; and the wait for the system to be
//! quiet.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use warren_manifest::{
    ACCOUNTS_DB, LOCKER_APP, LOCKER_SERVICE, LOCKERS_DB, Service, TALLY_WORKER, USER_SERVICE,
    USERS_DB, VOTE_SERVICE, VOTES_DB,
};
use warren_messages::topology::{
    ConsumerQueue, LOCKER_SERVICE_LOCKERS, TALLY_VOTES, USER_SERVICE_USERS,
};
use warren_service_kit::postgres::PostgresSettings;

use super::report::Row;
use crate::services::{Process, Wiring};
use crate::{Management, TestDatabase, mongo_database, vhost_with};

/// How many instances of each service a run starts, in the order they start (owners first:
/// they migrate the schemas the frontends read): every consumer competes with itself.
pub const INSTANCES: [(Service, usize); 5] = [
    (TALLY_WORKER, 3),
    (USER_SERVICE, 2),
    (LOCKER_SERVICE, 2),
    (VOTE_SERVICE, 1),
    (LOCKER_APP, 1),
];

/// The work queues of a run: each consumer's queue and its retry queue must drain.
const WORK_QUEUES: [ConsumerQueue; 3] = [TALLY_VOTES, USER_SERVICE_USERS, LOCKER_SERVICE_LOCKERS];

/// The services of one run on their own vhost and databases.
pub struct System {
    pub vhost: String,
    /// The databases, as the administrator (the checker reads them).
    pub votes_db: PostgresSettings,
    pub users_db: PostgresSettings,
    processes: BTreeMap<&'static str, Vec<Process>>,
    /// What the processes were started with (`warren-operator` runs with it too).
    wiring: Wiring,
}

impl System {
    /// The services, connecting to `nodes` (the cluster's, or proxies in front of them);
    /// without `lockers`, only the voting app's. `sabotage` is `WARREN_SABOTAGE` for the
    /// self-test.
    pub async fn start(
        bin_dir: &Path,
        lockers: bool,
        nodes: &[String],
        sabotage: Option<&str>,
    ) -> Self {
        let vhost = vhost_with(&WORK_QUEUES).await;
        let votes_db = TestDatabase::create(VOTES_DB).await;
        let users_db = TestDatabase::create(USERS_DB).await;
        let accounts_db = TestDatabase::create(ACCOUNTS_DB).await;
        let wiring = Wiring::new(vhost.clone())
            .with_nodes(nodes)
            .with_bin_dir(bin_dir)
            .with_postgres(votes_db.clone())
            .with_postgres(users_db.clone())
            .with_postgres(accounts_db)
            .with_mongo(LOCKERS_DB, mongo_database().await);
        let mut processes = BTreeMap::new();
        for (service, instances) in INSTANCES {
            if !lockers && ![TALLY_WORKER, VOTE_SERVICE].contains(&service) {
                continue;
            }
            let mut started = Vec::new();
            for _ in 0..instances {
                let mut launch = wiring
                    .launch(service)
                    .env("WARREN_TELEMETRY__FILTER", "warn")
                    // Short enough that a confirm lost with a node is reported within the run.
                    .env("WARREN_BROKER__CONFIRM_TIMEOUT_MS", "5000");
                if let Some(sabotage) = sabotage {
                    launch = launch.env("WARREN_SABOTAGE", sabotage);
                }
                started.push(launch.start().await);
            }
            processes.insert(service.name, started);
        }
        Self {
            vhost,
            votes_db: votes_db.as_admin(),
            users_db: users_db.as_admin(),
            processes,
            wiring,
        }
    }

    /// Makes `name` an operator with [`crate::accounts::PASSWORD`] in this run's users
    /// database, as scripts/up makes the first one (user-service has migrated it by then).
    pub async fn make_operator(&self, name: &str) {
        crate::accounts::make_operator(&self.wiring, name, crate::accounts::PASSWORD).await;
    }

    /// Every instance of a service.
    pub fn instances(&mut self, name: &str) -> &mut [Process] {
        self.processes
            .get_mut(name)
            .map(Vec::as_mut_slice)
            .unwrap_or_default()
    }

    /// The first instance's URL for `path`.
    pub fn url(&self, name: &str, path: &str) -> String {
        self.processes[name][0].url(path)
    }

    pub fn has(&self, name: &str) -> bool {
        self.processes.contains_key(name)
    }

    pub async fn stop(mut self) {
        for process in self.processes.values_mut().flatten() {
            process.kill().await;
        }
    }

    /// Waits until every work queue and its retry queue is empty (ready and unacknowledged)
    /// and user-service's outbox holds nothing, read twice in a row; if they do not empty,
    /// says what is left.
    pub async fn quiet(&self, within: Duration, row: &mut Row) -> bool {
        let management = Management::new();
        let mut empty_reads = 0;
        let deadline = Instant::now() + within;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last.clear();
            let mut total = 0;
            for queue in WORK_QUEUES {
                for name in [queue.name.to_owned(), queue.retry_queue()] {
                    let path = format!("queues/{}/{name}", self.vhost);
                    match management.try_get(&path).await {
                        Ok(state) => {
                            let messages = state["messages"].as_u64().unwrap_or(0);
                            total += messages;
                            if messages > 0 {
                                last.push(format!(
                                    "{name}: {} ready, {} unacknowledged, {} consumers",
                                    state["messages_ready"],
                                    state["messages_unacknowledged"],
                                    state["consumers"]
                                ));
                            }
                        }
                        // A node that is still recovering: not quiet yet.
                        Err(error) => {
                            total += 1;
                            last.push(error);
                        }
                    }
                }
            }
            if self.has("user-service") {
                match outbox_rows(&self.users_db).await {
                    Ok(0) => {}
                    Ok(rows) => {
                        total += rows;
                        last.push(format!("user-service's outbox: {rows} rows"));
                    }
                    Err(error) => {
                        total += 1;
                        last.push(format!("user-service's outbox: {error}"));
                    }
                }
            }
            empty_reads = if total == 0 { empty_reads + 1 } else { 0 };
            if empty_reads >= 2 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        row.notes
            .push(format!("not quiet after {within:?}: {}", last.join("; ")));
        false
    }
}

pub async fn postgres_client(
    settings: &PostgresSettings,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = settings
        .url
        .expose_secret()
        .parse()
        .unwrap_or_else(|error| panic!("a bad test database URL: {error}"));
    config.password(settings.password.expose_secret());
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Rows waiting in user-service's outbox.
async fn outbox_rows(database: &PostgresSettings) -> Result<u64, String> {
    count(database, "SELECT count(*) FROM outbox").await
}

/// Rows user-service's outbox set aside as never publishable: none may be, in a run.
pub async fn dead_outbox_rows(database: &PostgresSettings) -> Result<u64, String> {
    count(database, "SELECT count(*) FROM outbox_dead").await
}

async fn count(database: &PostgresSettings, query: &str) -> Result<u64, String> {
    let client = postgres_client(database)
        .await
        .map_err(|error| error.to_string())?;
    let row = client
        .query_one(query, &[])
        .await
        .map_err(|error| error.to_string())?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}
