//! Test support for Warren: what its integration tests, the chaos harness and the benchmarks
//! share. Everything runs against real servers; nothing is mocked.
//!
//! `scripts/test` starts a throwaway three-node RabbitMQ cluster, PostgreSQL and the
//! MongoDB-compatible server and exports where they are. This crate turns that into isolated
//! pieces per test: a fresh vhost with Warren's topology, a fresh PostgreSQL database, a fresh
//! MongoDB database, and settings for any service's broker user; it administers the broker
//! through its management API and stops and restarts its nodes. Around that: the service
//! binaries as child processes (`services`), the frontends as a client without JavaScript
//! (`web`) and as a headless browser (`browser`), a TCP fault proxy (`proxy`), the TLS
//! endpoints and a CA of another issuer (`tls`), and the chaos harness (`chaos`, run by
//! `warren-chaos`).
//!
//! It publishes and consumes through `warren-messages`, as a service does; only the
//! `warren-bench` binary names lapin, to measure bare lapin beside the library. Tests run
//! outside scripts/test fail at once with a message saying so.
#![allow(clippy::unwrap_used)]

pub mod accounts;
pub mod browser;
pub mod chaos;
pub mod proxy;
pub mod services;
pub mod tls;
pub mod web;

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use warren_messages::BrokerSettings;
use warren_messages::topology::{self, ConsumerQueue};
use warren_service_kit::mongo::MongoSettings;
use warren_service_kit::postgres::PostgresSettings;

/// Reads a variable that scripts/test exports.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through scripts/test, which starts the broker and databases")
    })
}

/// The variable holding a broker user's password (as in scripts/lib/infra.sh).
fn password_variable(user: &str) -> String {
    if user == topology::ADMIN_USER {
        return "WARREN_ADMIN_PASSWORD".into();
    }
    format!("{}_BROKER_PASSWORD", user.to_uppercase().replace('-', "_"))
}

pub fn broker_password(user: &str) -> String {
    env(&password_variable(user))
}

pub fn amqp_nodes() -> Vec<String> {
    env("WARREN_AMQP_NODES")
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// Settings for `user` on `vhost`, with tight timeouts so failures show quickly.
pub fn broker_settings(user: &str, vhost: &str) -> BrokerSettings {
    BrokerSettings {
        nodes: amqp_nodes(),
        vhost: vhost.to_owned(),
        username: user.to_owned(),
        password: SecretString::from(broker_password(user)),
        heartbeat_secs: 5,
        connect_timeout_ms: 3_000,
        confirm_timeout_ms: 5_000,
        ca_file: None,
    }
}

/// A unique, readable name for a test resource.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..12])
}

/// A local TCP port that was free a moment ago, for a process that must be told its port
/// before it binds it (chromedriver, a service binary) or for a port where nothing listens.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free port: {error}"))
}

/// A listener on a free local port, with that port; kept bound, so nothing can take it first.
pub async fn local_listener() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|error| panic!("no free port: {error}"));
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// The RabbitMQ management API, as the administrator.
#[derive(Clone)]
pub struct Management {
    client: reqwest::Client,
    /// Every node's API: a read goes to the next when one is down or does not know yet.
    bases: Vec<String>,
    password: String,
}

impl Management {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            bases: std::env::var("WARREN_MANAGEMENT_URLS")
                .unwrap_or_else(|_| env("WARREN_MANAGEMENT_URL"))
                .split(',')
                .map(str::to_owned)
                .collect(),
            password: broker_password(topology::ADMIN_USER),
        }
    }

    fn base(&self) -> &str {
        &self.bases[0]
    }

    /// GET from the first node whose API answers it with success.
    pub async fn try_get(&self, path: &str) -> Result<Value, String> {
        let mut failures = Vec::new();
        for base in &self.bases {
            let response = self
                .client
                .get(format!("{base}/api/{path}"))
                .basic_auth(topology::ADMIN_USER, Some(&self.password))
                .send()
                .await;
            match response {
                Ok(response) if response.status().is_success() => match response.json().await {
                    Ok(value) => return Ok(value),
                    Err(error) => failures.push(format!("{base}: {error}")),
                },
                Ok(response) => failures.push(format!("{base}: {}", response.status())),
                Err(error) => failures.push(format!("{base}: {error}")),
            }
        }
        Err(format!("GET {path}: {}", failures.join("; ")))
    }

    pub async fn get(&self, path: &str) -> Value {
        self.try_get(path)
            .await
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// POSTs `body` as JSON to the first node's API.
    async fn send_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/{path}", self.base()))
            .basic_auth(topology::ADMIN_USER, Some(&self.password))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        let response = self.send_post(path, body).await;
        let status = response.status();
        assert!(status.is_success(), "POST {path}: {status}");
        response.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) {
        let response = self.send_post(path, body).await;
        let status = response.status();
        assert!(
            status.is_success(),
            "POST {path}: {status}: {}",
            response.text().await.unwrap()
        );
    }

    /// Waits (up to `within`) until `queue` of `vhost` holds exactly `depth` messages; returns
    /// whether it did.
    pub async fn reaches_depth(
        &self,
        vhost: &str,
        queue: &str,
        depth: u64,
        within: Duration,
    ) -> bool {
        eventually(within, || async move {
            self.queue_depth(vhost, queue).await == depth
        })
        .await
    }

    /// Messages ready plus unacknowledged in `queue` of `vhost`.
    pub async fn queue_depth(&self, vhost: &str, queue: &str) -> u64 {
        let queue = self.get(&format!("queues/{vhost}/{queue}")).await;
        queue["messages"].as_u64().unwrap_or(0)
    }
}

impl Default for Management {
    fn default() -> Self {
        Self::new()
    }
}

/// A fresh vhost holding Warren's exchanges and the given consumer queues (with their retry
/// and dead-letter companions), with every service user's permissions as in production.
pub async fn vhost_with(queues: &[ConsumerQueue]) -> String {
    let vhost = unique_name("test");
    redeclare(&vhost, queues).await;
    vhost
}

/// A fresh vhost like [`vhost_with`] whose consumer and dead-letter queues hold at most about
/// `bounds` ready messages, so that a stopped consumer's queue fills within a test.
pub async fn vhost_bounded(queues: &[ConsumerQueue], bounds: topology::QueueBounds) -> String {
    let vhost = vhost_with(queues).await;
    bound_queues(&vhost, bounds).await;
    vhost
}

/// Sets the bounding policies of `vhost` to `bounds`, as scripts/up does with the operator's
/// bounds: the queues stay as they are, and take the new bound at once.
pub async fn bound_queues(vhost: &str, bounds: topology::QueueBounds) {
    let policies = topology::policies(vhost, bounds);
    Management::new()
        .post("definitions", &serde_json::json!({ "policies": policies }))
        .await;
}

/// An admin connection string for the test PostgreSQL server (no password inside).
fn postgres_base() -> String {
    env("WARREN_POSTGRES_URL_BASE")
}

/// A fresh, empty PostgreSQL database.
pub async fn postgres_database() -> PostgresSettings {
    let name = unique_name("test");
    let password = env("POSTGRES_PASSWORD");
    let mut config: tokio_postgres::Config =
        format!("{}/postgres", postgres_base()).parse().unwrap();
    config.password(&password);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    PostgresSettings {
        url: SecretString::from(format!("{}/{name}", postgres_base())),
        password: SecretString::from(password),
        pool_size: 8,
        connect_timeout_ms: 3_000,
        sslmode: Default::default(),
        ca_file: None,
    }
}

/// A connection to the test server as the administrator, to `database`.
async fn admin_client(database: &str) -> tokio_postgres::Client {
    let mut config: tokio_postgres::Config =
        format!("{}/{database}", postgres_base()).parse().unwrap();
    config.password(env(warren_manifest::POSTGRES_PASSWORD));
    let (client, connection) =
        config
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot connect to {database} as the administrator: {error}")
            });
    tokio::spawn(connection);
    client
}

/// A fresh database standing for the manifest's `database`, made as the infrastructure makes
/// the real one (`warren_manifest::postgres::database_setup`): owned by its owner's role, and
/// open to nobody but it and its readers, each logging in as its own role.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub database: warren_manifest::Database,
    pub name: String,
}

impl TestDatabase {
    /// Creates it on the test server, as the administrator.
    pub async fn create(database: warren_manifest::Database) -> Self {
        let name = unique_name("test");
        let setup = warren_manifest::postgres::database_setup(&database, &name);
        let server = admin_client("postgres").await;
        let roles: Vec<String> = warren_manifest::postgres::services_with_roles()
            .filter_map(warren_manifest::Service::postgres_role)
            .collect();
        let present: i64 = sql_value(
            &server,
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)",
            &[&roles],
        )
        .await;
        assert_eq!(
            present,
            i64::try_from(roles.len()).unwrap(),
            "the test server lacks some of the roles {roles:?}: it was started by a scripts/lib/infra.sh older than them; start it again"
        );
        for statement in std::iter::once(&setup.create).chain(&setup.on_server) {
            server
                .batch_execute(statement)
                .await
                .unwrap_or_else(|error| panic!("{statement}: {error}"));
        }
        let inside = admin_client(&name).await;
        for statement in &setup.inside {
            inside
                .batch_execute(statement)
                .await
                .unwrap_or_else(|error| panic!("{statement}: {error}"));
        }
        Self { database, name }
    }

    /// The settings `service` connects with: its own role and password.
    pub fn as_service(&self, service: &warren_manifest::Service) -> PostgresSettings {
        let (Some(role), Some(password)) = (
            service.postgres_role(),
            service.postgres_password_variable(),
        ) else {
            panic!("the manifest gives {} no PostgreSQL role", service.name);
        };
        test_postgres_settings(
            &format!(
                "postgres://{role}@{}/{}",
                env("WARREN_POSTGRES_ADDRESS"),
                self.name
            ),
            &env(&password),
        )
    }

    /// The settings of the administrator, for a test's own look at the rows.
    pub fn as_admin(&self) -> PostgresSettings {
        test_postgres_settings(
            &format!("{}/{}", postgres_base(), self.name),
            &env(warren_manifest::POSTGRES_PASSWORD),
        )
    }
}

/// Settings for `url` with `password`, and the pool and timeouts the tests use (what else
/// `PostgresSettings` holds takes its defaults).
fn test_postgres_settings(url: &str, password: &str) -> PostgresSettings {
    serde_json::from_value(serde_json::json!({
        "url": url,
        "password": password,
        "pool_size": 8,
        "connect_timeout_ms": 3_000,
    }))
    .unwrap_or_else(|error| panic!("test PostgreSQL settings: {error}"))
}

/// A client of the test MongoDB server logged in as its administrator (role `root`), which
/// makes the tests' databases and users; no service logs in as it.
pub async fn mongo_admin() -> mongodb::Client {
    let mut options = mongodb::options::ClientOptions::parse(env("WARREN_MONGO_URI"))
        .await
        .unwrap_or_else(|error| panic!("WARREN_MONGO_URI: {error}"));
    options.server_selection_timeout = Some(Duration::from_secs(3));
    options.credential = Some(
        mongodb::options::Credential::builder()
            .username(warren_manifest::MONGO_ADMIN.to_owned())
            .password(env(warren_manifest::MONGO_ADMIN_PASSWORD))
            .source("admin".to_owned())
            .mechanism(mongodb::options::AuthMechanism::ScramSha256)
            .build(),
    );
    mongodb::Client::with_options(options).unwrap()
}

/// A fresh MongoDB database standing for the manifest's `database`, holding the users the
/// infrastructure gives the real one (`mongo/users.json`): every service that uses it has its
/// own user there, with its role on this database alone and the test cluster's password for
/// it. The settings log in as the database's owner; [`mongo_as`] gives another service's.
pub async fn mongo_database_for(database: warren_manifest::MongoDatabase) -> MongoSettings {
    let name = unique_name("test");
    let admin = mongo_admin().await;
    for user in warren_manifest::mongo_users() {
        if user.database != database.name {
            continue;
        }
        admin
            .database(&name)
            .run_command(mongodb::bson::doc! {
                "createUser": user.name,
                "pwd": env(&user.password_variable),
                "roles": [{ "role": user.role.name(), "db": &name }],
                "mechanisms": ["SCRAM-SHA-256"],
            })
            .await
            .unwrap_or_else(|error| panic!("creating {} on {name}: {error}", user.name));
    }
    let owner = warren_manifest::Service::named(database.owner)
        .unwrap_or_else(|| panic!("{} is owned by no service", database.name));
    mongo_settings(&name, owner)
}

/// [`mongo_database_for`] the lockers' database, Warren's one MongoDB database; the settings
/// log in as its owner, locker-service.
pub async fn mongo_database() -> MongoSettings {
    mongo_database_for(warren_manifest::LOCKERS_DB).await
}

/// The settings of `service`'s own user on the test database that `settings` reaches.
pub fn mongo_as(settings: &MongoSettings, service: &warren_manifest::Service) -> MongoSettings {
    mongo_settings(&settings.database, service)
}

fn mongo_settings(database: &str, service: &warren_manifest::Service) -> MongoSettings {
    let user = service
        .mongo_user()
        .unwrap_or_else(|| panic!("the manifest gives {} no MongoDB user", service.name));
    serde_json::from_value(serde_json::json!({
        "uri": env("WARREN_MONGO_URI"),
        "database": database,
        "username": user.name,
        "password": env(&user.password_variable),
        "timeout_ms": 3_000,
    }))
    .unwrap_or_else(|error| panic!("test MongoDB settings: {error}"))
}

/// The first column of the one row that `sql` with `params` returns.
pub async fn sql_value<T>(
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    client
        .query_one(sql, params)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .get(0)
}

/// Waits (up to `within`) until `counter` reaches `at_least`; returns whether it did.
pub async fn counts_to(
    counter: &std::sync::atomic::AtomicUsize,
    at_least: usize,
    within: Duration,
) -> bool {
    eventually(within, || async {
        counter.load(std::sync::atomic::Ordering::SeqCst) >= at_least
    })
    .await
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The local cluster's node number (1 to 3) behind an `amqp://host:port` node URI.
pub fn node_number(node_uri: &str) -> usize {
    amqp_nodes()
        .iter()
        .position(|node| node == node_uri)
        .map(|index| index + 1)
        .unwrap_or_else(|| panic!("{node_uri} is not a node of the test cluster"))
}

/// The operating-system process of a local RabbitMQ node.
pub fn node_pid(number: usize) -> i32 {
    let path = format!(
        "{}/rabbitmq/node-{number}/rabbitmq.pid",
        env("WARREN_DATA_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{path}: {error}"))
        .trim()
        .parse()
        .unwrap()
}

/// Kills a RabbitMQ node at once, as a crash would (SIGKILL).
pub fn kill_node(number: usize) {
    let status = std::process::Command::new("kill")
        .args(["-9", &node_pid(number).to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 of node {number} failed");
}

/// Starts a killed node again and waits until the cluster has three running nodes.
pub async fn restart_node(number: usize) {
    infra(&format!("rabbit_restart_node {number}")).await;
}

/// A service's settings from the shared defaults and its own, listening on free ports (public
/// and admin).
pub fn settings<T: serde::de::DeserializeOwned>(defaults: &str) -> warren_service_kit::Settings<T> {
    let ports = [
        ("WARREN_HTTP__PORT".to_owned(), "0".to_owned()),
        ("WARREN_ADMIN__PORT".to_owned(), "0".to_owned()),
    ];
    warren_service_kit::Settings::load_from(defaults, ports).unwrap()
}

/// How long a service may take to stop (finish its work in flight and close its connections)
/// before a test calls it hung.
pub const STOP_WITHIN: Duration = Duration::from_secs(60);

/// A service running in the background of a test.
pub struct Running {
    pub port: u16,
    /// The admin listener's port: `/healthz`, `/readyz`, `/metrics`.
    pub admin_port: u16,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// `http://127.0.0.1:<port><path>`, on the public listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `http://127.0.0.1:<admin port><path>`, on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    /// Stops it as SIGTERM would, and waits until it has finished its work in flight. Panics if
    /// it has not stopped within [`STOP_WITHIN`]: a stop that hangs is a defect to see, not a
    /// test run that never ends.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(STOP_WITHIN, self.task).await {
            Ok(finished) => finished.unwrap().unwrap(),
            Err(_) => panic!(
                "the service on port {} did not stop within {STOP_WITHIN:?}",
                self.port
            ),
        }
    }
}

/// Starts `application` in the background.
pub fn spawn(application: warren_service_kit::Application) -> Running {
    let port = application.port();
    let admin_port = application.admin_port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Running {
        port,
        admin_port,
        stop,
        task,
    }
}

impl Management {
    pub async fn delete(&self, path: &str) {
        let response = self
            .client
            .delete(format!("{}/api/{path}", self.base()))
            .basic_auth(topology::ADMIN_USER, Some(&self.password))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(status.is_success(), "DELETE {path}: {status}");
    }

    /// Closes, from the server side, the connection on `vhost` that the client named `name`,
    /// waiting until the management API lists it. Panics if it never shows up.
    pub async fn close_connection(&self, vhost: &str, name: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let connections = self.get(&format!("vhosts/{vhost}/connections")).await;
            let found = connections
                .as_array()
                .unwrap()
                .iter()
                .find_map(|connection| {
                    (connection["user_provided_name"] == name)
                        .then(|| connection["name"].as_str().unwrap().to_owned())
                });
            if let Some(server_name) = found {
                // One path segment: everything but letters, digits and `- . _` escaped.
                const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                    .remove(b'-')
                    .remove(b'.')
                    .remove(b'_');
                let encoded = percent_encoding::utf8_percent_encode(&server_name, ESCAPED);
                self.delete(&format!("connections/{encoded}")).await;
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no connection named {name} on {vhost}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Declares the vhost (if new), Warren's exchanges, every service user's permissions, and
/// `queues` with their companions and bindings. Idempotent.
pub async fn redeclare(vhost: &str, queues: &[ConsumerQueue]) {
    let mut definitions = topology::definitions(vhost);
    let object = definitions.as_object_mut().unwrap();
    object.remove("users");
    let wanted: Vec<String> = queues
        .iter()
        .flat_map(|queue| {
            [
                queue.name.to_owned(),
                queue.retry_queue(),
                queue.dead_letter_queue(),
            ]
        })
        .collect();
    let keep = |value: &Value, field: &str| wanted.iter().any(|name| value[field] == name.as_str());
    object["queues"]
        .as_array_mut()
        .unwrap()
        .retain(|queue| keep(queue, "name"));
    object["bindings"]
        .as_array_mut()
        .unwrap()
        .retain(|binding| keep(binding, "destination"));
    Management::new().post("definitions", &definitions).await;
}

/// Runs a function of scripts/lib/infra.sh against the test infrastructure.
pub async fn infra(function: &str) {
    let root = env("WARREN_ROOT");
    let status = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!(". '{root}/scripts/lib/infra.sh' && {function}"))
        .status()
        .await
        .unwrap();
    assert!(status.success(), "{function} failed");
}

/// Stops the test PostgreSQL server (fast shutdown: connections are cut).
pub async fn stop_postgres() {
    infra("pg_stop").await;
}

/// Starts the test PostgreSQL server again, with its data.
pub async fn start_postgres() {
    infra("pg_start").await;
}

/// A publisher as broker user `user` on `vhost`, on a connection named `name`, with its broker
/// (to close at the end).
pub fn publisher_as(
    user: &str,
    vhost: &str,
    name: &str,
) -> (
    std::sync::Arc<warren_messages::Broker>,
    warren_messages::Publisher,
) {
    let broker = warren_messages::Broker::new(broker_settings(user, vhost), name)
        .unwrap_or_else(|error| panic!("no broker for {user} on {vhost}: {error}"));
    let broker = std::sync::Arc::new(broker);
    (broker.clone(), warren_messages::Publisher::new(broker))
}

/// Runs a consumer of tally-worker's queue with `handler` on `broker` in the background, until
/// the returned sender is used or dropped.
pub fn run_vote_consumer<H>(
    broker: std::sync::Arc<warren_messages::Broker>,
    handler: H,
    settings: warren_messages::ConsumerSettings,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)
where
    H: warren_messages::Handler<
            warren_messages::Envelope<warren_messages::events::votes::VoteCast>,
        >,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = warren_messages::Consumer::new(broker, topology::TALLY_VOTES, handler, settings);
    let task = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

/// A consumer handler that only records which vote events it was handed, and how often.
#[derive(Clone, Default)]
pub struct Recorder {
    seen: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, usize>>>,
}

impl Recorder {
    fn seen(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<uuid::Uuid, usize>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn contains(&self, message_id: uuid::Uuid) -> bool {
        self.seen().contains_key(&message_id)
    }

    /// Deliveries handed over, counting redeliveries.
    pub fn total(&self) -> usize {
        self.seen().values().sum()
    }

    /// How often each message was handed over.
    pub fn snapshot(&self) -> std::collections::HashMap<uuid::Uuid, usize> {
        self.seen().clone()
    }

    /// Waits until `message_id` has been handed over; returns whether it was within `within`.
    pub async fn wait_for(&self, message_id: uuid::Uuid, within: Duration) -> bool {
        eventually(within, || async move { self.contains(message_id) }).await
    }
}

#[async_trait::async_trait]
impl warren_messages::Handler<warren_messages::Envelope<warren_messages::events::votes::VoteCast>>
    for Recorder
{
    async fn handle(
        &self,
        batch: &[warren_messages::Envelope<warren_messages::events::votes::VoteCast>],
    ) -> Vec<warren_messages::Outcome> {
        let mut seen = self.seen();
        for envelope in batch {
            *seen.entry(envelope.message_id).or_default() += 1;
        }
        vec![warren_messages::Outcome::Done; batch.len()]
    }
}
