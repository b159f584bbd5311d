//! Queue leaders spread over the cluster's nodes. The queues of a fresh vhost, declared all at
//! once through one node's management API (as scripts/up loads the definitions), each go to the
//! node that leads the fewest queues: the spread of leaders over the nodes (most led minus
//! fewest led) does not grow, whatever the earlier tests (and their killed nodes) left behind,
//! and ends even when it started even. Every queue has a member on each node.
//!
//! This is `queue_leader_locator = balanced` in rabbitmq/rabbitmq.conf; without it every
//! leader sits on the node that took the definitions, and losing that node is always the worst
//! case.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_json::Value;
use warren_messages::topology::CONSUMER_QUEUES;
use warren_testkit::{Management, vhost_with};

/// The cluster's nodes, by name.
async fn nodes(management: &Management) -> Vec<String> {
    let mut nodes: Vec<String> = management
        .get("nodes")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["name"].as_str().unwrap().to_owned())
        .collect();
    nodes.sort_unstable();
    nodes
}

/// The quorum queues of `vhost`, or of the whole cluster.
async fn quorum_queues(management: &Management, vhost: Option<&str>) -> Vec<Value> {
    let path = match vhost {
        Some(vhost) => format!("queues/{vhost}?columns=name,type,leader,members"),
        None => "queues?columns=name,type,leader,members".to_owned(),
    };
    let queues = management.get(&path).await;
    queues
        .as_array()
        .unwrap()
        .iter()
        .filter(|queue| queue["type"] == "quorum")
        .cloned()
        .collect()
}

/// How many of `queues` each node leads.
fn leaders(nodes: &[String], queues: &[Value]) -> BTreeMap<String, usize> {
    let mut led: BTreeMap<String, usize> = nodes.iter().map(|node| (node.clone(), 0)).collect();
    for queue in queues {
        let leader = queue["leader"]
            .as_str()
            .unwrap_or_else(|| panic!("{} has no leader: {queue}", queue["name"]));
        *led.get_mut(leader)
            .unwrap_or_else(|| panic!("{} is led by {leader}, not a node", queue["name"])) += 1;
    }
    led
}

fn spread(led: &BTreeMap<String, usize>) -> usize {
    led.values().max().unwrap() - led.values().min().unwrap()
}

#[tokio::test]
async fn each_new_queue_is_led_by_the_node_that_leads_the_fewest() {
    let management = Management::new();
    let nodes = nodes(&management).await;
    assert_eq!(
        nodes.len(),
        3,
        "the test cluster has three nodes: {nodes:?}"
    );
    let before = leaders(&nodes, &quorum_queues(&management, None).await);

    let vhost = vhost_with(CONSUMER_QUEUES).await;
    let declared = quorum_queues(&management, Some(&vhost)).await;
    assert!(
        declared.len() >= 2 * nodes.len(),
        "too few quorum queues to judge the spread: {}",
        declared.len()
    );
    for queue in &declared {
        let mut members: Vec<&str> = queue["members"]
            .as_array()
            .unwrap_or_else(|| panic!("{} lists no members: {queue}", queue["name"]))
            .iter()
            .map(|member| member.as_str().unwrap())
            .collect();
        members.sort_unstable();
        assert_eq!(
            members, nodes,
            "{} has a member on every node",
            queue["name"]
        );
    }
    let after = leaders(&nodes, &quorum_queues(&management, None).await);
    let new = leaders(&nodes, &declared);
    assert!(
        spread(&after) <= spread(&before).max(1),
        "the new vhost's {} queues were led {new:?}: the cluster's leaders went from {before:?} to {after:?}",
        declared.len()
    );
}
