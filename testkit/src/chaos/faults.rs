//! The faults: one per scenario, injected while the load runs.

use std::time::{Duration, Instant};

use warren_messages::topology::TALLY_VOTES;

use super::load::poison;
use super::report::Row;
use super::system::System;
use super::{Options, Scenario};
use crate::proxy::{FaultProxy, Link};
use crate::{
    Management, env, infra, kill_node, node_pid, restart_node, start_postgres, stop_postgres,
};

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

/// How long a partition lasts.
const PARTITION: Duration = Duration::from_secs(30);

/// Whether this run's nodes are in network namespaces of their own (scripts/lib/netns.sh).
fn namespaced() -> bool {
    std::env::var("WARREN_RABBIT_NETNS_ACTIVE").is_ok_and(|value| value == "1")
}

/// Makes a partition with `cut` (a scripts/lib/netns.sh function), keeps it for `how_long`,
/// then heals it and waits until every node runs RabbitMQ again.
async fn partition(cut: &str, how_long: Duration) {
    infra(cut).await;
    tokio::time::sleep(how_long).await;
    infra("netns_heal && wait_until 180 'the cluster to heal' rabbit_cluster_complete").await;
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
pub async fn inject(
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
            if namespaced() {
                row.notes.push(format!(
                    "isolated node {node} (vote-service's; the votes queue's leader was node \
                     {leader}) from the other two for 30 s: blackhole routes between their \
                     network namespaces; clients still reached it"
                ));
                partition(&format!("netns_isolate {node}"), PARTITION).await;
            } else {
                row.notes.push(format!(
                    "network namespaces unavailable: cut node {node} (vote-service's; the votes \
                     queue's leader was node {leader}) off from the other two for 30 s by \
                     changing its Erlang cookie; checked apart after the cut and half-way"
                ));
                cut_off(node, PARTITION).await;
            }
            tokio::time::sleep(options.fault_for / 2).await;
        }
        Scenario::PartialPartition | Scenario::ClientsCut if !namespaced() => {
            row.notes.push(
                "NOT RUN: network namespaces unavailable (nodes on one loopback cannot be \
                 partitioned partially); the load ran without a fault"
                    .into(),
            );
            tokio::time::sleep(options.fault_for).await;
        }
        Scenario::PartialPartition => {
            let middle = leader(&system.vhost).await;
            row.notes.push(format!(
                "partial partition for 30 s: node {middle} (the votes queue's leader) still saw \
                 both others, which no longer saw each other"
            ));
            partition(&format!("netns_partial {middle}"), PARTITION).await;
            tokio::time::sleep(options.fault_for / 2).await;
        }
        Scenario::ClientsCut => {
            let node = leader(&system.vhost).await;
            row.notes.push(format!(
                "cut every client from node {node} (the votes queue's leader) for 30 s; the \
                 nodes still saw each other"
            ));
            partition(&format!("netns_cut_clients {node}"), PARTITION).await;
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
        Scenario::TallyWorkerKilled => kill_consumers(system, "tally-worker", options, row).await,
        Scenario::LockerServiceKilled => {
            kill_consumers(system, "locker-service", options, row).await;
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

/// kill -9 of a consumer three times while its queue is busy: one instance, then another,
/// then every instance at once; each comes back before the next kill.
async fn kill_consumers(system: &mut System, name: &str, options: &Options, row: &mut Row) {
    let instances = system.instances(name).len();
    for round in 0..3 {
        let victims: Vec<usize> = if round == 2 {
            (0..instances).collect()
        } else {
            vec![round % instances]
        };
        for &victim in &victims {
            system.instances(name)[victim].kill().await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        for &victim in &victims {
            system.instances(name)[victim].start().await;
        }
        tokio::time::sleep(options.fault_for / 3).await;
    }
    row.notes.push(format!(
        "killed {name} with SIGKILL three times mid-batch: one of its {instances} instances, \
         another, then all of them"
    ));
}
