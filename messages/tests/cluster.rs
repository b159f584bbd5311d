//! The broker that scripts/test starts is a real three-node cluster holding Warren's topology
//! and refusing what each broker user is not allowed to do.
#![allow(clippy::unwrap_used)]

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use warren_messages::Broker;
use warren_messages::topology::{self, DEFAULT_VHOST};
use warren_testkit::{Management, amqp_nodes, broker_password, broker_settings, vhost_with};

#[tokio::test]
async fn the_cluster_has_three_running_nodes() {
    let nodes = Management::new().get("nodes").await;
    let running: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|node| node["running"] == true)
        .map(|node| node["name"].as_str().unwrap())
        .collect();
    assert_eq!(running.len(), 3, "running nodes: {running:?}");
}

#[tokio::test]
async fn every_consumer_queue_is_a_quorum_queue_on_all_three_nodes() {
    let management = Management::new();
    for queue in topology::CONSUMER_QUEUES {
        let info = management
            .get(&format!("queues/{DEFAULT_VHOST}/{}", queue.name))
            .await;
        assert_eq!(info["type"], "quorum", "{}", queue.name);
        let members = info["members"].as_array().map_or(0, Vec::len);
        assert_eq!(members, 3, "{} has members {}", queue.name, info["members"]);
        assert_eq!(
            info["arguments"]["x-delivery-limit"],
            topology::DELIVERY_LIMIT,
            "{}",
            queue.name
        );
    }
}

async fn refusal(result: Result<impl std::fmt::Debug, lapin::Error>) -> String {
    let error = result.expect_err("the broker should refuse this");
    format!("{error}")
}

#[tokio::test]
async fn a_producer_cannot_consume_another_services_queue_or_declare_a_queue() {
    // A bare client with vote-service's credentials, free to try what Warren's library never
    // would, in a vhost of its own with the production definitions (so that what it may
    // publish lands in a queue nobody else reads).
    let vhost = vhost_with(&[topology::TALLY_VOTES]).await;
    let node = amqp_nodes().remove(0);
    let address = node.trim_start_matches("amqp://");
    let password = broker_password("vote-service");
    let uri = format!("amqp://vote-service:{password}@{address}/{vhost}");
    let broker = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();

    // What it is for works: publishing its own event to its own exchange is confirmed.
    let channel = broker.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirmation = channel
        .basic_publish(
            topology::VOTES.name.into(),
            "vote.cast".into(),
            BasicPublishOptions::default(),
            b"{}",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirmation.is_ack());

    let consume = broker
        .create_channel()
        .await
        .unwrap()
        .basic_consume(
            topology::TALLY_VOTES.name.into(),
            "intruder".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    let message = refusal(consume).await;
    assert!(message.contains("ACCESS_REFUSED"), "{message}");

    let declare = broker
        .create_channel()
        .await
        .unwrap()
        .queue_declare(
            "vote-service.own-queue".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    let message = refusal(declare).await;
    assert!(message.contains("ACCESS_REFUSED"), "{message}");

    let foreign = broker.create_channel().await.unwrap();
    foreign
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let publish = async {
        foreign
            .basic_publish(
                topology::USERS.name.into(),
                "user.registered".into(),
                BasicPublishOptions::default(),
                b"{}",
                BasicProperties::default(),
            )
            .await?
            .await
    };
    let message = refusal(publish.await).await;
    assert!(message.contains("ACCESS_REFUSED"), "{message}");
}

#[tokio::test]
async fn guest_cannot_connect() {
    let node = amqp_nodes().remove(0);
    let address = node.trim_start_matches("amqp://");
    let uri = format!("amqp://guest:guest@{address}/%2f");
    let result = Connection::connect(&uri, ConnectionProperties::default()).await;
    assert!(result.is_err(), "guest connected");
    let uri = format!("amqp://guest:guest@{address}/{DEFAULT_VHOST}");
    assert!(
        Connection::connect(&uri, ConnectionProperties::default())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let mut settings = broker_settings("vote-service", DEFAULT_VHOST);
    settings.password = "not-the-password".to_owned().into();
    let broker = Broker::new(settings, "wrong-password-test").unwrap();
    let error = broker.ping().await.unwrap_err().to_string();
    assert!(error.contains("no broker node is reachable"), "{error}");
}
