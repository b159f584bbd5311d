//! The services of one run as real processes (so that a kill -9 is a process dying), each
//! consumer scaled out, on their own vhost and databases; and the wait for the system to be
//! quiet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use tokio::process::{Child, Command};
use warren_messages::topology::{
    ConsumerQueue, LOCKER_SERVICE_LOCKERS, TALLY_VOTES, USER_SERVICE_USERS,
};
use warren_service_kit::mongo::MongoSettings;
use warren_service_kit::postgres::PostgresSettings;

use super::report::Row;
use crate::{Management, broker_password, mongo_database, postgres_database, vhost_with};

/// How many instances of each service a run starts: every consumer competes with itself.
pub const INSTANCES: [(&str, usize); 5] = [
    ("tally-worker", 3),
    ("user-service", 2),
    ("locker-service", 2),
    ("vote-service", 1),
    ("locker-app", 1),
];

/// The work queues of a run: each consumer's queue and its retry queue must drain.
const WORK_QUEUES: [ConsumerQueue; 3] = [TALLY_VOTES, USER_SERVICE_USERS, LOCKER_SERVICE_LOCKERS];

/// A service binary run as a child process.
pub struct Process {
    pub name: &'static str,
    env: Vec<(String, String)>,
    port: u16,
    child: Option<Child>,
    bin_dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free port: {error}"))
}

/// What one process needs to know beyond its name.
pub struct Wiring<'a> {
    pub bin_dir: &'a Path,
    pub nodes: &'a [String],
    pub vhost: &'a str,
    pub postgres: Option<&'a PostgresSettings>,
    pub mongo: Option<&'a MongoSettings>,
    /// `WARREN_SABOTAGE` for the self-test.
    pub sabotage: Option<&'a str>,
}

impl Process {
    fn new(name: &'static str, wiring: &Wiring<'_>) -> Self {
        let port = free_port();
        let mut env = vec![
            ("WARREN_HTTP__PORT".to_owned(), port.to_string()),
            ("WARREN_BROKER__NODES".to_owned(), wiring.nodes.join(",")),
            ("WARREN_BROKER__VHOST".to_owned(), wiring.vhost.to_owned()),
            ("WARREN_BROKER__PASSWORD".to_owned(), broker_password(name)),
            ("WARREN_TELEMETRY__FILTER".to_owned(), "warn".to_owned()),
            // Short enough that a confirm lost with a node is reported within the run.
            (
                "WARREN_BROKER__CONFIRM_TIMEOUT_MS".to_owned(),
                "5000".to_owned(),
            ),
        ];
        if let Some(database) = wiring.postgres {
            env.push((
                "WARREN_POSTGRES__URL".to_owned(),
                database.url.expose_secret().to_owned(),
            ));
            env.push((
                "WARREN_POSTGRES__PASSWORD".to_owned(),
                database.password.expose_secret().to_owned(),
            ));
        }
        if let Some(mongo) = wiring.mongo {
            env.push((
                "WARREN_MONGO__URI".to_owned(),
                mongo.uri.expose_secret().to_owned(),
            ));
            env.push(("WARREN_MONGO__DATABASE".to_owned(), mongo.database.clone()));
        }
        if let Some(sabotage) = wiring.sabotage {
            env.push(("WARREN_SABOTAGE".to_owned(), sabotage.to_owned()));
        }
        Self {
            name,
            env,
            port,
            child: None,
            bin_dir: wiring.bin_dir.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn start(&mut self) {
        let binary = self.bin_dir.join(self.name);
        let child = Command::new(&binary)
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        self.child = Some(child);
        let url = self.url("/healthz");
        let up = crate::eventually(Duration::from_secs(60), || {
            let url = url.clone();
            async move {
                reqwest::get(url)
                    .await
                    .is_ok_and(|response| response.status().is_success())
            }
        })
        .await;
        assert!(up, "{} did not start", self.name);
    }

    /// kill -9: the process dies wherever it is.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// The services of one run on their own vhost and databases.
pub struct System {
    pub vhost: String,
    pub votes_db: PostgresSettings,
    pub users_db: PostgresSettings,
    processes: BTreeMap<&'static str, Vec<Process>>,
}

impl System {
    /// The services, connecting to `nodes` (the cluster's, or proxies in front of them).
    pub async fn start(
        bin_dir: &Path,
        lockers: bool,
        nodes: &[String],
        sabotage: Option<&str>,
    ) -> Self {
        let vhost = vhost_with(&WORK_QUEUES).await;
        let votes_db = postgres_database().await;
        let users_db = postgres_database().await;
        let mongo = mongo_database();
        let mut processes = BTreeMap::new();
        for (name, instances) in INSTANCES {
            let (postgres, mongo) = match name {
                "tally-worker" | "vote-service" => (Some(&votes_db), None),
                "user-service" => (Some(&users_db), None),
                "locker-service" => (None, Some(&mongo)),
                "locker-app" => (Some(&users_db), Some(&mongo)),
                other => panic!("no wiring for {other}"),
            };
            if !lockers && !matches!(name, "tally-worker" | "vote-service") {
                continue;
            }
            let wiring = Wiring {
                bin_dir,
                nodes,
                vhost: &vhost,
                postgres,
                mongo,
                sabotage,
            };
            processes.insert(
                name,
                (0..instances)
                    .map(|_| Process::new(name, &wiring))
                    .collect(),
            );
        }
        let mut system = Self {
            vhost,
            votes_db,
            users_db,
            processes,
        };
        // Owners first: they migrate the schemas the frontends read.
        for name in [
            "tally-worker",
            "user-service",
            "locker-service",
            "vote-service",
            "locker-app",
        ] {
            for process in system.processes.get_mut(name).into_iter().flatten() {
                process.start().await;
            }
        }
        system
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
