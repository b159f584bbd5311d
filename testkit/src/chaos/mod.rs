//! Fault injection with a history checker: load through the real HTTP frontends, a fault in the
//! middle, every attempt recorded with its outcome, and once the system is quiet the read models
//! compared with the record (the bookkeeping of RabbitMQ's Jepsen suite):
//!
//! - lost: confirmed but missing (must be 0)
//! - duplicated: applied more than once (must be 0)
//! - unexpected: present but never attempted, or present after a refusal (must be 0)
//! - recovered: not confirmed (a 503 or no answer), yet present (allowed, reported)
//!
//! Every work queue, retry queue and outbox must end empty, and writes must be confirmed both
//! during and after the fault. The services run as their real binaries, each consumer as
//! several instances, so that a kill -9 is a process dying and competing consumers race.
//! `scripts/chaos` runs every scenario; `scripts/chaos --self-test` breaks one guarantee at a
//! time ([`warren_messages::sabotage`]) and shows that the checker catches each;
//! `scripts/test` runs a short subset of both.
//!
//! - [`ledger`]: the attempts and what the clients saw;
//! - [`load`]: the clients, through the frontends' forms (locker-app's users signed up and
//!   signed in, each asking for themself; an operator adding the lockers);
//! - [`system`]: the service processes and the wait for quiet;
//! - [`faults`]: one fault per scenario;
//! - [`checker`]: the read models against the ledger;
//! - [`report`]: rows and the Markdown report.

mod checker;
mod faults;
pub mod ledger;
pub mod load;
mod report;
pub mod system;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use warren_messages::sabotage::Sabotage;
use warren_messages::topology::TALLY_VOTES;

pub use report::{Row, report, self_test_report};

use crate::Management;
use crate::proxy::FaultProxy;
use ledger::Ledger;
use load::LockerClient;
use system::System;

/// The faults, numbered as in the reliability plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 1: kill -9 of the RabbitMQ node leading the votes queue, under load.
    LeaderKilled,
    /// 2: the node vote-service publishes through cut off from the other two for 30 s, while
    /// clients still reach it: a real partition where the nodes run in network namespaces,
    /// else a changed Erlang cookie.
    NodeCutOff,
    /// 2: a partial partition for 30 s: one node still sees both others, which no longer see
    /// each other (network namespaces only).
    PartialPartition,
    /// 2: the clients cut from the votes queue's leader for 30 s; the nodes still see each
    /// other (network namespaces only).
    ClientsCut,
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
    pub const ALL: [Scenario; 12] = [
        Self::LeaderKilled,
        Self::NodeCutOff,
        Self::PartialPartition,
        Self::ClientsCut,
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
            Self::PartialPartition => "2-partial-partition",
            Self::ClientsCut => "2-clients-cut-from-leader",
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

    /// Whether writes must be confirmed while the fault is in force. Not in a partial
    /// partition: RabbitMQ's pause_minority pauses both nodes that lost each other "until the
    /// entire cluster recovers", and the one left has no quorum, so the cluster rightly
    /// refuses every write until it heals (and must lose none).
    pub fn writes_during_fault(self) -> bool {
        self != Self::PartialPartition
    }
}

/// Each sabotage and the scenario that must catch it.
pub const SELF_TEST: [(Sabotage, Scenario); 4] = [
    // The vote published three times applies three times.
    (Sabotage::SkipClaim, Scenario::Poison),
    // Batches acknowledged before their commit die with the killed workers.
    (Sabotage::AckBeforeCommit, Scenario::TallyWorkerKilled),
    // Each worker instance drops the first vote it is handed.
    (Sabotage::DropVote, Scenario::LeaderKilled),
    // More requests than lockers: a held locker is handed out again.
    (Sabotage::SkipHolderCheck, Scenario::LockerServiceKilled),
];

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the service binaries are (target/release or target/debug).
    pub bin_dir: PathBuf,
    /// How long the load runs with the fault in it.
    pub fault_for: Duration,
    pub clients: usize,
    /// A guarantee to break on purpose (the binaries must be built with the `sabotage`
    /// feature of warren-messages).
    pub sabotage: Option<Sabotage>,
}

/// Lockers, users, and how many of the users ask for one: more ask than there are lockers,
/// and some never ask.
const LOCKERS: usize = 20;
const USERS: usize = 40;
const REQUESTING: usize = 30;
/// The operator who adds the lockers and whose API token the checker reads with.
const OPERATOR: &str = "chaos-operator";

/// Runs one scenario from start to check; the system is built and torn down around it.
pub async fn run(scenario: Scenario, options: &Options) -> Row {
    let mut row = Row {
        scenario: scenario.name().to_owned(),
        sabotage: options.sabotage.map(|sabotage| sabotage.name().to_owned()),
        during_required: scenario.writes_during_fault(),
        ..Row::default()
    };
    if std::env::var("WARREN_RABBIT_NETNS_ACTIVE").is_ok_and(|value| value == "1") {
        row.notes
            .push("each RabbitMQ node ran in a network namespace of its own".into());
    }
    // Scenario 8 puts a fault proxy between every service and each node.
    let mut proxies = Vec::new();
    if scenario == Scenario::SlowLinks {
        for node in crate::amqp_nodes() {
            proxies.push(FaultProxy::start(node.trim_start_matches("amqp://").to_owned()).await);
        }
    }
    let nodes: Vec<String> = if proxies.is_empty() {
        crate::amqp_nodes()
    } else {
        proxies
            .iter()
            .map(|proxy| format!("amqp://{}", proxy.address()))
            .collect()
    };
    let mut system = System::start(
        &options.bin_dir,
        scenario.lockers(),
        &nodes,
        options.sabotage.map(Sabotage::name),
    )
    .await;
    let ledger = Ledger::default();
    let stop = Arc::new(AtomicBool::new(false));
    let vote_bases = system
        .instances("vote-service")
        .iter()
        .map(|process| process.url(""))
        .collect();
    let votes = load::votes(vote_bases, options.clients, ledger.clone(), stop.clone());
    let locker_ledger = Ledger::default();
    let mut lockers_run = None;
    if scenario.lockers() {
        system.make_operator(OPERATOR).await;
        let mut client = LockerClient::new(system.url("locker-app", ""), OPERATOR).await;
        client.setup(USERS, LOCKERS).await;
        let client = Arc::new(client);
        let task = load::lockers(client.clone(), REQUESTING, locker_ledger.clone());
        lockers_run = Some((task, client));
    }
    // Some confirmed writes before the fault, so that its effect on them shows.
    let warmed = crate::eventually(Duration::from_secs(30), || {
        let ledger = ledger.clone();
        async move {
            ledger
                .attempts()
                .iter()
                .any(|attempt| attempt.seen == ledger::Seen::Confirmed)
        }
    })
    .await;
    if !warmed {
        row.notes
            .push("no vote was confirmed before the fault".into());
    }
    let fault = Instant::now();
    if scenario == Scenario::Poison {
        load::triple(&system.vhost, &ledger).await;
    }
    faults::inject(scenario, &mut system, options, &proxies, &mut row).await;
    let healed = Instant::now();
    // Load goes on for a while on the healed system.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for task in votes {
        let _ = task.await;
    }
    if let Some((task, _)) = &mut lockers_run {
        let _ = task.await;
    }
    row.queues_empty = system.quiet(Duration::from_secs(120), &mut row).await;
    let attempts = ledger.attempts();
    checker::votes(&system, &attempts, &mut row).await;
    let mut all = attempts;
    if let Some((_, client)) = &lockers_run {
        let locker_attempts = locker_ledger.attempts();
        checker::lockers(client, &locker_attempts, USERS, LOCKERS, &mut row).await;
        // A request user-service decided to forward but set aside never reached lockers.
        match system::dead_outbox_rows(&system.users_db).await {
            Ok(0) => {}
            Ok(dead) => {
                row.lost += usize::try_from(dead).unwrap_or(usize::MAX);
                row.notes
                    .push(format!("{dead} rows in user-service's outbox_dead"));
            }
            Err(error) => row
                .notes
                .push(format!("user-service's outbox_dead: {error}")),
        }
        all.extend(locker_attempts);
    }
    let confirmed_at = |attempt: &&ledger::Attempt| attempt.seen == ledger::Seen::Confirmed;
    row.confirmed_during = all
        .iter()
        .filter(confirmed_at)
        .filter(|attempt| attempt.at >= fault && attempt.at <= healed)
        .count();
    row.confirmed_after = all
        .iter()
        .filter(confirmed_at)
        .filter(|attempt| attempt.at > healed)
        .count();
    (row.recovery, row.interrupted) = checker::recovery(&all, fault);
    row.hung = all
        .iter()
        .filter(|attempt| {
            attempt.seen == ledger::Seen::Unknown && attempt.took >= Duration::from_secs(15)
        })
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
