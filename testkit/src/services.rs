//! Warren's service binaries started as child processes, each with exactly the environment
//! `warren_manifest` states for it, rendered for one test: the test's broker nodes and vhost,
//! the test's own PostgreSQL databases (each service logging in as its own role) and MongoDB
//! databases, free public and admin ports and generated secrets, plus any
//! override the test asks for (`WARREN_CLOCK__OFFSET_MS`, consumer settings, `WARREN_SABOTAGE`).
//!
//! A [`Wiring`] is what the services of one test share; [`Wiring::launch`] starts one of them
//! and waits until its `/readyz` answers 200 on its admin port. The [`Process`] is killed when
//! dropped, and can be killed with SIGKILL, stopped with SIGTERM and started again on the same
//! ports.
//!
//! The binaries are not built here: `cargo build --workspace --features
//! warren-messages/sabotage` builds them (scripts/test does).

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::process::{Child, Command};
use warren_manifest::{Database, MongoDatabase, READINESS_PATH, Service, Value};
use warren_messages::topology::CONSUMER_QUEUES;
use warren_service_kit::mongo::MongoSettings;

/// How long a service may take to answer `/readyz` (on its admin port) with 200 after it was
/// started.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// How many lines of a process's output are kept, to show when it fails to start.
const OUTPUT_LINES: usize = 40;

/// What the services of one test are wired to: the broker nodes and vhost, the databases (by
/// the manifest's names: a reader of a database gets the very database its writer got), the
/// secrets they share (every instance of a frontend signs forms with the same secret), and the
/// directory holding the binaries.
#[derive(Clone)]
pub struct Wiring {
    nodes: Vec<String>,
    vhost: String,
    postgres: BTreeMap<&'static str, crate::TestDatabase>,
    mongo: BTreeMap<&'static str, MongoSettings>,
    secrets: BTreeMap<String, String>,
    bin_dir: PathBuf,
}

impl Wiring {
    /// The test cluster's nodes and `vhost`, no databases yet, the binaries of this build.
    pub fn new(vhost: impl Into<String>) -> Self {
        let secrets = warren_manifest::SERVICES
            .iter()
            .filter_map(Service::csrf_secret_variable)
            .map(|variable| (variable, generated_secret()))
            .collect();
        Self {
            nodes: crate::amqp_nodes(),
            vhost: vhost.into(),
            postgres: BTreeMap::new(),
            mongo: BTreeMap::new(),
            secrets,
            bin_dir: default_bin_dir(),
        }
    }

    /// A fresh vhost holding every consumer queue, and a fresh database for each store that
    /// one of `services` uses.
    pub async fn fresh(services: &[Service]) -> Self {
        let mut wiring = Self::new(crate::vhost_with(CONSUMER_QUEUES).await);
        for service in services {
            for postgres in service.postgres {
                if !wiring.postgres.contains_key(postgres.database.name) {
                    let database = crate::TestDatabase::create(postgres.database).await;
                    wiring = wiring.with_postgres(database);
                }
            }
            if let Some(mongo) = service.mongo
                && !wiring.mongo.contains_key(mongo.database.name)
            {
                let settings = crate::mongo_database_for(mongo.database).await;
                wiring = wiring.with_mongo(mongo.database, settings);
            }
        }
        wiring
    }

    /// Connect to these broker nodes instead (proxies in front of the cluster, say).
    pub fn with_nodes(mut self, nodes: &[String]) -> Self {
        self.nodes = nodes.to_vec();
        self
    }

    /// The test's database standing for the manifest's database it was made for.
    pub fn with_postgres(mut self, database: crate::TestDatabase) -> Self {
        self.postgres.insert(database.database.name, database);
        self
    }

    /// The test's MongoDB database standing for the manifest's `database`, holding its
    /// services' users (as [`crate::mongo_database_for`] makes it).
    pub fn with_mongo(mut self, database: MongoDatabase, settings: MongoSettings) -> Self {
        self.mongo.insert(database.name, settings);
        self
    }

    /// Start the binaries in `bin_dir` instead of this build's.
    pub fn with_bin_dir(mut self, bin_dir: &Path) -> Self {
        self.bin_dir = bin_dir.to_owned();
        self
    }

    pub fn vhost(&self) -> &str {
        &self.vhost
    }

    /// The test's database for the manifest's `database`.
    pub fn postgres(&self, database: Database) -> &crate::TestDatabase {
        self.postgres.get(database.name).unwrap_or_else(|| {
            panic!(
                "no test database for {}: give it with Wiring::with_postgres",
                database.name
            )
        })
    }

    /// The test's MongoDB database for the manifest's `database`.
    pub fn mongo(&self, database: MongoDatabase) -> &MongoSettings {
        self.mongo.get(database.name).unwrap_or_else(|| {
            panic!(
                "no test database for {}: give it with Wiring::with_mongo",
                database.name
            )
        })
    }

    /// A launch of `service` with its manifest environment, to which overrides can be added.
    pub fn launch(&self, service: Service) -> Launch {
        Launch {
            service,
            environment: self.environment(&service, crate::free_port(), crate::free_port()),
            binary: self.bin_dir.join(service.name),
        }
    }

    /// Starts `service` with its manifest environment and waits until it is ready.
    pub async fn start(&self, service: Service) -> Process {
        self.launch(service).start().await
    }

    /// The manifest's environment of `service`, rendered for this test.
    fn environment(&self, service: &Service, port: u16, admin_port: u16) -> Vec<(String, String)> {
        service
            .environment()
            .into_iter()
            .map(|variable| {
                let value = match variable.value {
                    Value::Port => port.to_string(),
                    Value::AdminPort => admin_port.to_string(),
                    Value::LogFormat => "json".to_owned(),
                    Value::BrokerNodes => self.nodes.join(","),
                    Value::BrokerVhost => self.vhost.clone(),
                    Value::PostgresUrl { database, .. } => expose(
                        &self
                            .postgres_named(service, database)
                            .as_service(service)
                            .url,
                    ),
                    Value::MongoUri => expose(&self.mongo_of(service).uri),
                    Value::MongoDatabase { database } => {
                        self.mongo_named(service, database).database.clone()
                    }
                    Value::MongoUser { user } => user.to_owned(),
                    Value::Secret { variable } => self.secret(&variable),
                    Value::TrustedProxies => String::new(),
                };
                (variable.name.to_owned(), value)
            })
            .collect()
    }

    /// A secret's value: a CSRF secret is this test's own; the broker users' and PostgreSQL
    /// roles' passwords are those the test cluster was set up with.
    fn secret(&self, variable: &str) -> String {
        match self.secrets.get(variable) {
            Some(secret) => secret.clone(),
            None => crate::env(variable),
        }
    }

    fn postgres_named(&self, service: &Service, database: &str) -> &crate::TestDatabase {
        self.postgres.get(database).unwrap_or_else(|| {
            panic!(
                "{} uses the database {database}: give the test's with Wiring::with_postgres",
                service.name
            )
        })
    }

    fn mongo_named(&self, service: &Service, database: &str) -> &MongoSettings {
        self.mongo.get(database).unwrap_or_else(|| {
            panic!(
                "{} uses the MongoDB database {database}: give the test's with Wiring::with_mongo",
                service.name
            )
        })
    }

    fn mongo_of(&self, service: &Service) -> &MongoSettings {
        let mongo = service
            .mongo
            .unwrap_or_else(|| panic!("the manifest gives {} no MongoDB", service.name));
        self.mongo_named(service, mongo.database.name)
    }
}

fn expose(secret: &SecretString) -> String {
    secret.expose_secret().to_owned()
}

fn generated_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The directory of this build's binaries: the test executable sits in `target/debug/deps`,
/// a binary of this crate (warren-chaos) in `target/debug`.
fn default_bin_dir() -> PathBuf {
    let executable = std::env::current_exe()
        .unwrap_or_else(|error| panic!("cannot tell where this executable is: {error}"));
    let dir = executable
        .parent()
        .unwrap_or_else(|| panic!("{} has no directory", executable.display()));
    if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir).to_owned()
    } else {
        dir.to_owned()
    }
}

/// One service about to be started: its binary and its environment.
pub struct Launch {
    service: Service,
    environment: Vec<(String, String)>,
    binary: PathBuf,
}

impl Launch {
    /// Sets a variable, replacing the manifest's value if it has one.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.environment.iter_mut().find(|(key, _)| key == name) {
            Some(entry) => entry.1 = value,
            None => self.environment.push((name.to_owned(), value)),
        }
        self
    }

    /// The environment the process will get, and nothing else.
    pub fn environment(&self) -> &[(String, String)] {
        &self.environment
    }

    /// Starts the process and waits until its `/readyz` answers 200; panics, naming the
    /// service and showing its last output, if it exits or is not ready in time.
    pub async fn start(self) -> Process {
        let port = self.port("WARREN_HTTP__PORT");
        let admin_port = self.port("WARREN_ADMIN__PORT");
        let mut process = Process {
            service: self.service,
            environment: self.environment,
            binary: self.binary,
            port,
            admin_port,
            child: None,
            output: Arc::default(),
            readers: Vec::new(),
        };
        process.start().await;
        process
    }
}

impl Launch {
    /// Runs another binary of this build (a one-shot tool such as `warren-operator`) with this
    /// service's environment and nothing else, standard input closed, and waits for it.
    pub async fn run_tool_with_args(&self, binary: &str, args: &[&str]) -> std::process::Output {
        let path = self.binary.with_file_name(binary);
        tokio::process::Command::new(&path)
            .args(args)
            .env_clear()
            .envs(
                self.environment
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", path.display()))
    }

    /// The port the environment's `variable` gives.
    fn port(&self, variable: &str) -> u16 {
        self.environment
            .iter()
            .find(|(name, _)| name == variable)
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| panic!("{} has no {variable}", self.service.name))
    }
}

/// A service binary running as a child process; killed when dropped.
pub struct Process {
    service: Service,
    environment: Vec<(String, String)>,
    binary: PathBuf,
    port: u16,
    admin_port: u16,
    child: Option<Child>,
    output: Arc<Mutex<VecDeque<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Process {
    pub fn name(&self) -> &'static str {
        self.service.name
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port: `/healthz`, `/readyz`, `/metrics`.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// `http://127.0.0.1:<port><path>`, on the public listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `http://127.0.0.1:<admin port><path>`, on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    /// The environment it runs with.
    pub fn environment(&self) -> &[(String, String)] {
        &self.environment
    }

    /// Starts it (again, after a kill or a stop: same ports, same environment) and waits until
    /// its `/readyz` answers 200.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name());
        if !self.binary.is_file() {
            panic!(
                "{} is not built ({} does not exist): build it: cargo build --workspace --features warren-messages/sabotage",
                self.name(),
                self.binary.display()
            );
        }
        let mut child = Command::new(&self.binary)
            .env_clear()
            .envs(self.environment.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", self.binary.display()));
        self.readers.clear();
        if let Some(stdout) = child.stdout.take().and_then(|out| out.into_owned_fd().ok()) {
            self.readers.push(self.keep_output(stdout));
        }
        if let Some(stderr) = child.stderr.take().and_then(|err| err.into_owned_fd().ok()) {
            self.readers.push(self.keep_output(stderr));
        }
        self.child = Some(child);
        self.wait_until_ready().await;
    }

    /// Keeps the last lines `pipe` gives in `output` until the process closes it.
    fn keep_output(&self, pipe: std::os::fd::OwnedFd) -> std::thread::JoinHandle<()> {
        let output = self.output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(std::fs::File::from(pipe)).lines() {
                let Ok(line) = line else { break };
                let mut output = output.lock().unwrap_or_else(|e| e.into_inner());
                if output.len() == OUTPUT_LINES {
                    output.pop_front();
                }
                output.push_back(line);
            }
        })
    }

    async fn wait_until_ready(&mut self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let url = self.admin_url(READINESS_PATH);
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.exited() {
                self.fail(&format!("exited with {status} before it was ready"));
            }
            let last = match client.get(&url).send().await {
                Ok(response) if response.status() == 200 => return,
                Ok(response) => {
                    let status = response.status();
                    format!("{status} {}", response.text().await.unwrap_or_default())
                }
                Err(error) => error.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                self.fail(&format!(
                    "was not ready within {READY_WITHIN:?}; {READINESS_PATH} last answered: {last}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the process has exited, and how.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Panics with what went wrong and the process's last output.
    fn fail(&mut self, what: &str) -> ! {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
        // The pipes close with the process; what it wrote last is then all read.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let output = self.output.lock().unwrap_or_else(|e| e.into_inner());
        let output: Vec<&str> = output.iter().map(String::as_str).collect();
        panic!(
            "{} ({}) {what}; its last output:\n{}",
            self.name(),
            self.binary.display(),
            output.join("\n")
        );
    }

    /// kill -9: the process dies wherever it is.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// SIGTERM, as an operator's stop: waits until it has finished its work in flight and
    /// exited, and returns how it exited.
    pub async fn stop(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("{} is not running", self.service.name));
        let pid = child
            .id()
            .unwrap_or_else(|| panic!("{} has already exited", self.service.name));
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap_or_else(|error| panic!("kill -TERM {pid}: {error}"));
        assert!(status.success(), "kill -TERM {pid} failed");
        match tokio::time::timeout(crate::STOP_WITHIN, child.wait()).await {
            Ok(status) => {
                status.unwrap_or_else(|error| panic!("waiting for {}: {error}", self.service.name))
            }
            Err(_) => {
                self.child = Some(child);
                self.fail(&format!(
                    "did not stop within {:?} of SIGTERM",
                    crate::STOP_WITHIN
                ))
            }
        }
    }
}
