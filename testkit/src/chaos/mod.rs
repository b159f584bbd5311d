//! Fault injection with a history checker: load through the real HTTP frontends, a fault in the
//! middle, every attempt recorded with its outcome, and once the system is quiet the read models
//! compared with the record (the bookkeeping of RabbitMQ's Jepsen suite):
//!
//! - lost: confirmed but missing (must be 0)
//! - duplicated: applied more than once (must be 0)
//! - unexpected: present but never attempted (must be 0)
//! - recovered: not confirmed (a 503 or no answer), yet present (allowed, reported)
//!
//! and every work queue must end empty. The services run as their real binaries, so that a
//! kill -9 is a process dying. `scripts/chaos` runs every scenario; `scripts/test` a short subset.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::process::{Child, Command};
use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::publisher::Outgoing;
use warren_messages::topology::{LOCKER_SERVICE_LOCKERS, TALLY_VOTES, USER_SERVICE_USERS, VOTES};
use warren_messages::{Broker, Envelope, Event, Publisher};
use warren_service_kit::mongo::MongoSettings;
use warren_service_kit::postgres::PostgresSettings;

use crate::proxy::{FaultProxy, Link};
use crate::{
    Management, amqp_nodes, broker_password, broker_settings, env, infra, kill_node,
    mongo_database, node_pid, postgres_database, restart_node, start_postgres, stop_postgres,
    vhost_with,
};

/// The faults, numbered as in the reliability plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 1: kill -9 of the RabbitMQ node leading the votes queue, under load.
    LeaderKilled,
    /// 2: the node vote-service publishes through cut off from the other two for 30 s (its
    /// Erlang cookie changed, so that neither side can reach the other; clients still reach it).
    NodeCutOff,
    /// 3: SIGSTOP of the leading node for longer than the net tick time, then SIGCONT.
    LeaderPaused,
    /// 4: a rolling restart of all three nodes under load.
    RollingRestart,
    /// 5: kill -9 of tally-worker in the middle of its batches.
    TallyWorkerKilled,
    /// 5: kill -9 of locker-service in the middle of its requests.
    LockerServiceKilled,
    /// 6: PostgreSQL stopped for 20 s.
    PostgresStopped,
    /// 6: the MongoDB server stopped for 20 s.
    MongoStopped,
    /// 7: poison messages mixed into the stream, and one vote published three times.
    Poison,
    /// 8: the links between the services and the broker slow, then silent, then clear.
    SlowLinks,
}

impl Scenario {
    pub const ALL: [Scenario; 10] = [
        Self::LeaderKilled,
        Self::NodeCutOff,
        Self::LeaderPaused,
        Self::RollingRestart,
        Self::TallyWorkerKilled,
        Self::LockerServiceKilled,
        Self::PostgresStopped,
        Self::MongoStopped,
        Self::Poison,
        Self::SlowLinks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::LeaderKilled => "1-leader-killed",
            Self::NodeCutOff => "2-node-cut-off",
            Self::LeaderPaused => "3-leader-paused",
            Self::RollingRestart => "4-rolling-restart",
            Self::TallyWorkerKilled => "5-tally-worker-killed",
            Self::LockerServiceKilled => "5-locker-service-killed",
            Self::PostgresStopped => "6-postgres-stopped",
            Self::MongoStopped => "6-mongo-stopped",
            Self::Poison => "7-poison-and-duplicates",
            Self::SlowLinks => "8-slow-and-silent-links",
        }
    }

    /// The scenarios a name or number names (`5` names both of scenario 5's).
    pub fn matching(name: &str) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|scenario| {
                scenario.name() == name || scenario.name().starts_with(&format!("{name}-"))
            })
            .collect()
    }

    fn lockers(self) -> bool {
        matches!(self, Self::LockerServiceKilled | Self::MongoStopped)
    }
}

/// What became of one attempt, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The frontend answered success: the broker confirmed.
    Confirmed,
    /// Refused before anything was published (a 4xx).
    Failed,
    /// Not confirmed (a 503) or no answer: it may or may not have been published.
    Unknown,
}

#[derive(Debug, Clone)]
struct Attempt {
    key: String,
    seen: Seen,
    at: Instant,
    /// How long the client waited for the answer.
    took: Duration,
    /// For locker requests: the status page to ask for the outcome.
    status: Option<String>,
}

#[derive(Default, Clone)]
struct Ledger(Arc<Mutex<Vec<Attempt>>>);

impl Ledger {
    fn record(&self, key: String, seen: Seen, took: Duration, status: Option<String>) {
        self.0.lock().unwrap().push(Attempt {
            key,
            seen,
            at: Instant::now(),
            took,
            status,
        });
    }

    fn attempts(&self) -> Vec<Attempt> {
        self.0.lock().unwrap().clone()
    }
}

/// One scenario's line of the report.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub scenario: String,
    pub attempted: usize,
    pub confirmed: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub unexpected: usize,
    pub recovered: usize,
    /// From the fault to the first confirmed write after the interruption (None: no
    /// interruption seen).
    pub recovery: Option<Duration>,
    pub queues_empty: bool,
    /// Attempts that got no answer at all within the client's 15 s: something hung.
    pub hung: usize,
    pub notes: Vec<String>,
}

impl Row {
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.unexpected == 0
            && self.queues_empty
            && self.hung == 0
    }
}

/// The report as Markdown.
pub fn report(rows: &[Row]) -> String {
    let mut text = String::from(
        "# Chaos report\n\n\
         | scenario | attempted | confirmed | lost | duplicated | unexpected | recovered | time to recover | hung | queues empty | result |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for row in rows {
        let recovery = row.recovery.map_or("no interruption".to_owned(), |d| {
            format!("{:.1} s", d.as_secs_f64())
        });
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.scenario,
            row.attempted,
            row.confirmed,
            row.lost,
            row.duplicated,
            row.unexpected,
            row.recovered,
            recovery,
            row.hung,
            if row.queues_empty { "yes" } else { "no" },
            if row.passed() { "pass" } else { "FAIL" },
        ));
    }
    text.push_str(
        "\nlost = confirmed but missing; duplicated = applied more than once; unexpected = present \
         but never attempted; recovered = not confirmed (503 or no answer) yet present; hung = \
         no answer within the client's 15 s.\n",
    );
    for row in rows.iter().filter(|row| !row.notes.is_empty()) {
        text.push_str(&format!("\n## {}\n\n", row.scenario));
        for note in &row.notes {
            text.push_str(&format!("- {note}\n"));
        }
    }
    text
}

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the service binaries are (target/release or target/debug).
    pub bin_dir: PathBuf,
    /// How long the load runs with the fault in it.
    pub fault_for: Duration,
    pub clients: usize,
}

/// A service binary run as a child process.
struct Process {
    name: &'static str,
    env: Vec<(String, String)>,
    port: u16,
    child: Option<Child>,
    bin_dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Process {
    fn new(
        name: &'static str,
        bin_dir: &std::path::Path,
        nodes: &[String],
        vhost: &str,
        postgres: Option<&PostgresSettings>,
        mongo: Option<&MongoSettings>,
    ) -> Self {
        let port = free_port();
        let mut env = vec![
            ("WARREN_HTTP__PORT".to_owned(), port.to_string()),
            ("WARREN_BROKER__NODES".to_owned(), nodes.join(",")),
            ("WARREN_BROKER__VHOST".to_owned(), vhost.to_owned()),
            ("WARREN_BROKER__PASSWORD".to_owned(), broker_password(name)),
            ("WARREN_TELEMETRY__FILTER".to_owned(), "warn".to_owned()),
            // Short enough that a confirm lost with a node is reported within the run.
            (
                "WARREN_BROKER__CONFIRM_TIMEOUT_MS".to_owned(),
                "5000".to_owned(),
            ),
        ];
        if let Some(database) = postgres {
            env.push((
                "WARREN_POSTGRES__URL".to_owned(),
                database.url.expose_secret().to_owned(),
            ));
            env.push((
                "WARREN_POSTGRES__PASSWORD".to_owned(),
                database.password.expose_secret().to_owned(),
            ));
        }
        if let Some(mongo) = mongo {
            env.push((
                "WARREN_MONGO__URI".to_owned(),
                mongo.uri.expose_secret().to_owned(),
            ));
            env.push(("WARREN_MONGO__DATABASE".to_owned(), mongo.database.clone()));
        }
        Self {
            name,
            env,
            port,
            child: None,
            bin_dir: bin_dir.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn start(&mut self) {
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
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// The services of one run on their own vhost and databases.
struct System {
    vhost: String,
    votes_db: PostgresSettings,
    processes: HashMap<&'static str, Process>,
}

impl System {
    /// The services, connecting to `nodes` (the cluster's, or proxies in front of them).
    async fn start(options: &Options, lockers: bool, nodes: &[String]) -> Self {
        let vhost = vhost_with(&[TALLY_VOTES, USER_SERVICE_USERS, LOCKER_SERVICE_LOCKERS]).await;
        let votes_db = postgres_database().await;
        let users_db = postgres_database().await;
        let mongo = mongo_database();
        let dir = &options.bin_dir;
        let mut processes = HashMap::new();
        let mut add = |process: Process| {
            processes.insert(process.name, process);
        };
        add(Process::new(
            "tally-worker",
            dir,
            nodes,
            &vhost,
            Some(&votes_db),
            None,
        ));
        add(Process::new(
            "vote-service",
            dir,
            nodes,
            &vhost,
            Some(&votes_db),
            None,
        ));
        if lockers {
            add(Process::new(
                "user-service",
                dir,
                nodes,
                &vhost,
                Some(&users_db),
                None,
            ));
            add(Process::new(
                "locker-service",
                dir,
                nodes,
                &vhost,
                None,
                Some(&mongo),
            ));
            add(Process::new(
                "locker-app",
                dir,
                nodes,
                &vhost,
                Some(&users_db),
                Some(&mongo),
            ));
        }
        let mut system = Self {
            vhost,
            votes_db,
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
            if let Some(process) = system.processes.get_mut(name) {
                process.start().await;
            }
        }
        system
    }

    fn process(&mut self, name: &str) -> &mut Process {
        self.processes.get_mut(name).unwrap()
    }

    async fn stop(mut self) {
        for process in self.processes.values_mut() {
            process.kill().await;
        }
    }

    /// Waits until every work queue is empty (ready and unacknowledged), read twice in a row;
    /// if they do not empty, says what is left in them.
    async fn quiet(&self, within: Duration, row: &mut Row) -> bool {
        let management = Management::new();
        let mut empty_reads = 0;
        let deadline = Instant::now() + within;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last.clear();
            let mut total = 0;
            for queue in [TALLY_VOTES, USER_SERVICE_USERS, LOCKER_SERVICE_LOCKERS] {
                let path = format!("queues/{}/{}", self.vhost, queue.name);
                match management.try_get(&path).await {
                    Ok(state) => {
                        total += state["messages"].as_u64().unwrap_or(0);
                        last.push(format!(
                            "{}: {} ready, {} unacknowledged, {} consumers",
                            queue.name,
                            state["messages_ready"],
                            state["messages_unacknowledged"],
                            state["consumers"]
                        ));
                    }
                    // A node that is still recovering: not quiet yet.
                    Err(error) => {
                        total += 1;
                        last.push(error);
                    }
                }
            }
            empty_reads = if total == 0 { empty_reads + 1 } else { 0 };
            if empty_reads >= 2 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        row.notes.push(format!(
            "queues not empty after {within:?}: {}",
            last.join("; ")
        ));
        false
    }
}

async fn postgres_client(settings: &PostgresSettings) -> tokio_postgres::Client {
    let mut config: tokio_postgres::Config = settings.url.expose_secret().parse().unwrap();
    config.password(settings.password.expose_secret());
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

fn seen(response: &Result<reqwest::Response, reqwest::Error>) -> Seen {
    match response {
        Ok(response) if response.status() == 303 => Seen::Confirmed,
        Ok(response) if response.status().is_client_error() => Seen::Failed,
        _ => Seen::Unknown,
    }
}

fn form_token(page: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker)? + marker.len();
    page[start..].split('"').next().map(str::to_owned)
}

/// Clients voting as new voters until `stop` is set; each vote is an attempt keyed by its voter
/// id. An attempt under way when `stop` is set finishes and is recorded: a vote cut off
/// mid-request would be present but unrecorded.
fn vote_load(
    base: String,
    clients: usize,
    ledger: Ledger,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|_| {
            let (base, ledger, stop) = (base.clone(), ledger.clone(), stop.clone());
            tokio::spawn(async move {
                let client = http();
                while !stop.load(Ordering::Relaxed) {
                    // A new voter: the ballot gives the cookie and the token.
                    let Ok(ballot) = client.get(format!("{base}/")).send().await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let cookie = ballot
                        .headers()
                        .get("set-cookie")
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.split(';').next())
                        .map(str::to_owned);
                    let page = ballot.text().await.unwrap_or_default();
                    let (Some(cookie), Some(token)) = (cookie, form_token(&page)) else {
                        continue;
                    };
                    let voter = cookie.split('=').nth(1).unwrap_or_default().to_owned();
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{base}/vote"))
                        .header("cookie", &cookie)
                        .form(&[("vote", "a"), ("csrf", token.as_str())])
                        .send()
                        .await;
                    ledger.record(voter, seen(&response), sent.elapsed(), None);
                }
            })
        })
        .collect()
}

/// When writes were interrupted after `fault` and came back: the first confirmed attempt after
/// the first one that was not.
fn recovery(attempts: &[Attempt], fault: Instant) -> Option<Duration> {
    let mut after: Vec<&Attempt> = attempts.iter().filter(|a| a.at >= fault).collect();
    after.sort_by_key(|a| a.at);
    let broken = after.iter().position(|a| a.seen != Seen::Confirmed)?;
    after[broken..]
        .iter()
        .find(|a| a.seen == Seen::Confirmed)
        .map(|a| a.at - fault)
}

/// Compares the votes read model with the attempts.
async fn check_votes(system: &System, attempts: &[Attempt], row: &mut Row) {
    let client = postgres_client(&system.votes_db).await;
    let rows = client
        .query(
            "SELECT voter_id::text, count(*) FROM votes GROUP BY voter_id",
            &[],
        )
        .await
        .unwrap();
    let present: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let attempted: HashMap<&str, Seen> =
        attempts.iter().map(|a| (a.key.as_str(), a.seen)).collect();
    row.attempted += attempts.len();
    row.confirmed += attempts
        .iter()
        .filter(|a| a.seen == Seen::Confirmed)
        .count();
    for attempt in attempts {
        match (attempt.seen, present.get(&attempt.key)) {
            (Seen::Confirmed, None) => row.lost += 1,
            (Seen::Unknown, Some(_)) => row.recovered += 1,
            (Seen::Failed, Some(_)) => row.unexpected += 1,
            _ => {}
        }
    }
    row.duplicated += present.values().filter(|count| **count > 1).count();
    row.unexpected += present
        .keys()
        .filter(|voter| !attempted.contains_key(voter.as_str()))
        .count();
}

/// The node a service's connection is on (node 1 if it has none).
async fn node_of(vhost: &str, user: &str) -> usize {
    let connections = Management::new().get("connections").await;
    let node = connections
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["vhost"] == vhost && c["user"] == user)
        .and_then(|c| c["node"].as_str())
        .unwrap_or_default()
        .to_owned();
    node_number_of(&node)
}

fn node_number_of(name: &str) -> usize {
    (1..=3)
        .find(|n| name.starts_with(&format!("{}-{n}@", env("WARREN_RABBIT_PREFIX"))))
        .unwrap_or(1)
}

/// The node leading the votes queue.
async fn leader(vhost: &str) -> usize {
    let queue = Management::new()
        .get(&format!("queues/{vhost}/{}", TALLY_VOTES.name))
        .await;
    node_number_of(queue["leader"].as_str().unwrap_or_default())
}

/// Cuts a node off from the others for `how_long`: it takes another Erlang cookie, so that no
/// distribution connection forms either way, while its clients can still reach it. Then it
/// takes its cookie back and the cluster heals.
async fn cut_off(node: usize, how_long: Duration) {
    let cookie_file = format!("{}/rabbitmq/.erlang.cookie", env("WARREN_DATA_DIR"));
    let cookie = std::fs::read_to_string(&cookie_file).unwrap();
    infra(&format!(
        "rabbitmqctl_on {node} eval 'erlang:set_cookie(node(), chaos_cut_off), \
         [erlang:disconnect_node(N) || N <- nodes()], ok.'"
    ))
    .await;
    // The others must have lost it, and stay apart (no reconnection with the old cookie).
    let other = node % 3 + 1;
    let started = Instant::now();
    infra(&format!(
        "wait_until 30 'node {node} to be cut off' rabbit_cut_off {other} {node}"
    ))
    .await;
    tokio::time::sleep(how_long / 2).await;
    infra(&format!("rabbit_cut_off {other} {node}")).await;
    tokio::time::sleep(how_long.saturating_sub(started.elapsed())).await;
    infra(&format!(
        "rabbitmqctl_on {node} --erlang-cookie chaos_cut_off eval \
         'erlang:set_cookie(node(), list_to_atom(\"{}\")), ok.' && \
         wait_until 120 'the cluster to heal' rabbit_cluster_complete",
        cookie.trim()
    ))
    .await;
}

async fn signal_node(number: usize, signal: &str) {
    let status = tokio::process::Command::new("kill")
        .args([signal, &node_pid(number).to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success(), "kill {signal} of node {number} failed");
}

/// Injects the scenario's fault while the load runs; returns when it has healed.
async fn inject(
    scenario: Scenario,
    system: &mut System,
    options: &Options,
    proxies: &[FaultProxy],
    row: &mut Row,
) {
    match scenario {
        Scenario::NodeCutOff => {
            // The node vote-service publishes through: its producer must see errors, not
            // confirms it cannot keep.
            let node = node_of(&system.vhost, "vote-service").await;
            let leader = leader(&system.vhost).await;
            row.notes.push(format!(
                "cut node {node} (vote-service's; the votes queue's leader was node {leader}) off \
                 from the other two for 30 s; checked apart after the cut and half-way"
            ));
            cut_off(node, Duration::from_secs(30)).await;
            tokio::time::sleep(options.fault_for / 2).await;
        }
        Scenario::SlowLinks => {
            let before: u64 = proxies.iter().map(FaultProxy::connections).sum();
            for proxy in proxies {
                proxy.set(Link::Slow(Duration::from_millis(200)));
            }
            tokio::time::sleep(options.fault_for / 2).await;
            for proxy in proxies {
                proxy.set(Link::Silent);
            }
            // Longer than the confirm timeout and the heartbeat: both must fire.
            tokio::time::sleep(Duration::from_secs(15)).await;
            for proxy in proxies {
                proxy.set(Link::Clear);
            }
            tokio::time::sleep(options.fault_for / 2).await;
            let after: u64 = proxies.iter().map(FaultProxy::connections).sum();
            row.notes.push(format!(
                "links slowed to 200 ms a chunk, then silent for 15 s, then clear; the services \
                 opened {} new broker connections",
                after - before
            ));
        }
        Scenario::LeaderKilled => {
            let node = leader(&system.vhost).await;
            row.notes.push(format!(
                "killed node {node} (the votes queue's leader) with SIGKILL"
            ));
            kill_node(node);
            tokio::time::sleep(options.fault_for).await;
            restart_node(node).await;
        }
        Scenario::LeaderPaused => {
            let node = leader(&system.vhost).await;
            row.notes.push(format!(
                "paused node {node} (the leader) with SIGSTOP for 20 s (net_ticktime 15 s)"
            ));
            signal_node(node, "-STOP").await;
            tokio::time::sleep(Duration::from_secs(20)).await;
            signal_node(node, "-CONT").await;
            tokio::time::sleep(options.fault_for).await;
        }
        Scenario::RollingRestart => {
            for node in 1..=3 {
                row.notes.push(format!("restarted node {node}"));
                infra(&format!("rabbitmqctl_on {node} stop")).await;
                restart_node(node).await;
            }
        }
        Scenario::TallyWorkerKilled => {
            for _ in 0..3 {
                system.process("tally-worker").kill().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                system.process("tally-worker").start().await;
                tokio::time::sleep(options.fault_for / 3).await;
            }
            row.notes
                .push("killed tally-worker with SIGKILL three times, mid-batch".into());
        }
        Scenario::LockerServiceKilled => {
            for _ in 0..3 {
                system.process("locker-service").kill().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                system.process("locker-service").start().await;
                tokio::time::sleep(options.fault_for / 3).await;
            }
            row.notes.push(
                "killed locker-service with SIGKILL three times while requests flowed".into(),
            );
        }
        Scenario::PostgresStopped => {
            stop_postgres().await;
            tokio::time::sleep(Duration::from_secs(20)).await;
            start_postgres().await;
            row.notes.push("PostgreSQL stopped for 20 s".into());
        }
        Scenario::MongoStopped => {
            infra("mongo_stop").await;
            tokio::time::sleep(Duration::from_secs(20)).await;
            infra("mongo_start").await;
            row.notes.push("the MongoDB server stopped for 20 s".into());
        }
        Scenario::Poison => {
            let poisoned = poison(&system.vhost).await;
            row.notes.push(format!(
                "{poisoned} poison messages published among the votes; one vote published three times"
            ));
            tokio::time::sleep(options.fault_for).await;
        }
    }
}

/// Publishes malformed and unknown-version bodies, and one vote three times (recorded as one
/// confirmed attempt); returns how many poison messages were sent.
async fn poison(vhost: &str) -> usize {
    let broker =
        Arc::new(Broker::new(broker_settings("vote-service", vhost), "chaos-poison").unwrap());
    let publisher = Publisher::new(broker.clone());
    let bodies: Vec<Vec<u8>> = (0..10)
        .map(|n| format!("{{not json {n}").into_bytes())
        .chain((0..5).map(|_| {
            let mut value = serde_json::to_value(Envelope::new(
                "chaos",
                VoteCast {
                    poll: "default".into(),
                    voter_id: Uuid::new_v4(),
                    option: "a".into(),
                },
            ))
            .unwrap();
            value["schema_version"] = serde_json::json!(99);
            serde_json::to_vec(&value).unwrap()
        }))
        .collect();
    for body in &bodies {
        publisher
            .publish_raw(Outgoing {
                exchange: VOTES.name,
                routing_key: VoteCast::TYPE,
                body,
                properties: lapin::BasicProperties::default().with_delivery_mode(2),
            })
            .await
            .unwrap();
    }
    broker.close().await;
    bodies.len()
}

/// The vote published three times by the poison scenario, as an attempt.
async fn triple(vhost: &str, ledger: &Ledger) {
    let broker =
        Arc::new(Broker::new(broker_settings("vote-service", vhost), "chaos-triple").unwrap());
    let publisher = Publisher::new(broker.clone());
    let voter = Uuid::new_v4();
    let envelope = Envelope::new(
        "chaos",
        VoteCast {
            poll: "default".into(),
            voter_id: voter,
            option: "b".into(),
        },
    );
    let mut all = true;
    for _ in 0..3 {
        all &= publisher.publish(&envelope).await.is_ok();
    }
    ledger.record(
        voter.to_string(),
        if all { Seen::Confirmed } else { Seen::Unknown },
        Duration::ZERO,
        None,
    );
    broker.close().await;
}

/// Registers users and adds lockers through locker-app, waiting for each outcome.
async fn lockers_setup(base: &str, users: usize, lockers: usize) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let page = client
        .get(format!("{base}/lockers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = form_token(&page).unwrap();
    let decided = |status: String| {
        let (client, base) = (client.clone(), base.to_owned());
        async move {
            crate::eventually(Duration::from_secs(60), || {
                let (client, url) = (client.clone(), format!("{base}/api{status}"));
                async move {
                    match client.get(url).send().await {
                        Ok(response) => response
                            .json::<Value>()
                            .await
                            .is_ok_and(|value| value["pending"] == false),
                        Err(_) => false,
                    }
                }
            })
            .await
        }
    };
    for n in 0..lockers {
        let response = client
            .post(format!("{base}/lockers"))
            .form(&[
                ("code", format!("C-{n:03}")),
                ("location", "Chaos hall".into()),
                ("csrf", token.clone()),
            ])
            .send()
            .await
            .unwrap();
        let status = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(decided(status).await, "adding a locker was never decided");
    }
    for n in 0..users {
        let response = client
            .post(format!("{base}/register"))
            .form(&[("name", format!("user-{n:03}")), ("csrf", token.clone())])
            .send()
            .await
            .unwrap();
        let status = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(decided(status).await, "a registration was never decided");
    }
    (client, token)
}

/// Each user asks for a locker once, a few at a time, while the fault happens.
fn locker_load(
    base: String,
    client: reqwest::Client,
    token: String,
    users: usize,
    ledger: Ledger,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for n in 0..users {
            let name = format!("user-{n:03}");
            let sent = Instant::now();
            let response = client
                .post(format!("{base}/request"))
                .form(&[("name", name.as_str()), ("csrf", token.as_str())])
                .send()
                .await;
            let outcome = seen(&response);
            let status = response.ok().and_then(|r| {
                r.headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
            ledger.record(name, outcome, sent.elapsed(), status);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    })
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Compares the lockers and users with the requests.
async fn check_lockers(
    base: &str,
    client: &reqwest::Client,
    attempts: &[Attempt],
    lockers: usize,
    row: &mut Row,
) {
    row.attempted += attempts.len();
    row.confirmed += attempts
        .iter()
        .filter(|a| a.seen == Seen::Confirmed)
        .count();
    let mut assigned = Vec::new();
    for attempt in attempts {
        let status: Option<Value> = match &attempt.status {
            Some(status) => match client.get(format!("{base}/api{status}")).send().await {
                Ok(response) => response.json().await.ok(),
                Err(_) => None,
            },
            None => None,
        };
        let outcome = status
            .as_ref()
            .filter(|value| value["pending"] == false)
            .and_then(|value| value["outcome"].as_str().map(str::to_owned));
        match (attempt.seen, &outcome) {
            (Seen::Confirmed, None) => row.lost += 1,
            (_, Some(outcome)) if outcome == "assigned" => {
                assigned.push(
                    status.unwrap()["locker"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            _ => {}
        }
    }
    let report = get_json(client, &format!("{base}/api/reconcile")).await;
    let disagreements = report["disagreements"].as_array().map_or(0, Vec::len);
    row.unexpected += disagreements;
    if disagreements > 0 {
        row.notes
            .push(format!("reconcile: {}", report["disagreements"]));
    }
    let lockers_now = get_json(client, &format!("{base}/api/lockers")).await;
    let holders: Vec<String> = lockers_now
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|locker| locker["holder"].as_str().map(str::to_owned))
        .collect();
    let distinct: HashSet<&String> = holders.iter().collect();
    row.duplicated += holders.len() - distinct.len();
    let given: HashSet<&String> = assigned.iter().collect();
    row.duplicated += assigned.len() - given.len();
    let requested: HashSet<&str> = attempts.iter().map(|a| a.key.as_str()).collect();
    row.unexpected += holders
        .iter()
        .filter(|h| !requested.contains(h.as_str()))
        .count();
    // A request not confirmed whose user got a locker anyway was published after all.
    row.recovered += attempts
        .iter()
        .filter(|a| a.seen != Seen::Confirmed && distinct.contains(&a.key))
        .count();
    row.notes.push(format!(
        "{} lockers for {} requests: {} held at the end",
        lockers,
        attempts.len(),
        holders.len()
    ));
}

/// Runs one scenario from start to check; the system is built and torn down around it.
pub async fn run(scenario: Scenario, options: &Options) -> Row {
    let mut row = Row {
        scenario: scenario.name().to_owned(),
        ..Row::default()
    };
    // Scenario 8 puts a fault proxy between every service and each node.
    let mut proxies = Vec::new();
    if scenario == Scenario::SlowLinks {
        for node in amqp_nodes() {
            proxies.push(FaultProxy::start(node.trim_start_matches("amqp://").to_owned()).await);
        }
    }
    let nodes: Vec<String> = if proxies.is_empty() {
        amqp_nodes()
    } else {
        proxies
            .iter()
            .map(|proxy| format!("amqp://{}", proxy.address()))
            .collect()
    };
    let mut system = System::start(options, scenario.lockers(), &nodes).await;
    let ledger = Ledger::default();
    let stop = Arc::new(AtomicBool::new(false));
    let votes = vote_load(
        system.processes["vote-service"].url(""),
        options.clients,
        ledger.clone(),
        stop.clone(),
    );
    let lockers = 20;
    let users = 40;
    let mut lockers_run = None;
    let mut locker_ledger = Ledger::default();
    if scenario.lockers() {
        let base = system.processes["locker-app"].url("");
        let (client, token) = lockers_setup(&base, users, lockers).await;
        locker_ledger = Ledger::default();
        lockers_run = Some((
            locker_load(
                base.clone(),
                client.clone(),
                token,
                users,
                locker_ledger.clone(),
            ),
            client,
            base,
        ));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fault = Instant::now();
    if scenario == Scenario::Poison {
        triple(&system.vhost, &ledger).await;
    }
    inject(scenario, &mut system, options, &proxies, &mut row).await;
    // Load goes on for a while on the healed system.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for task in votes {
        let _ = task.await;
    }
    if let Some((task, _, _)) = &mut lockers_run {
        let _ = task.await;
    }
    row.queues_empty = system.quiet(Duration::from_secs(120), &mut row).await;
    let attempts = ledger.attempts();
    check_votes(&system, &attempts, &mut row).await;
    let mut all = attempts;
    if let Some((_, client, base)) = &lockers_run {
        let locker_attempts = locker_ledger.attempts();
        check_lockers(base, client, &locker_attempts, lockers, &mut row).await;
        all.extend(locker_attempts);
    }
    row.recovery = recovery(&all, fault);
    row.hung = all
        .iter()
        .filter(|attempt| attempt.seen == Seen::Unknown && attempt.took >= Duration::from_secs(15))
        .count();
    if let Some(longest) = all.iter().map(|attempt| attempt.took).max() {
        row.notes.push(format!(
            "the longest wait for an answer: {:.1} s",
            longest.as_secs_f64()
        ));
    }
    if scenario == Scenario::Poison {
        let dead = Management::new()
            .queue_depth(&system.vhost, &TALLY_VOTES.dead_letter_queue())
            .await;
        row.notes.push(format!(
            "{dead} messages in tally-worker.votes.dead (15 expected)"
        ));
        if dead != 15 {
            row.unexpected += 1;
        }
    }
    system.stop().await;
    row
}
