//! locker-service publishes its outcomes on a broker connection of its own, apart from the one
//! it consumes and acknowledges on: the broker blocks a connection that publishes during a
//! resource alarm, and the acks must not wait behind it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use locker_service::configuration::{DEFAULTS, Settings};
use locker_service::startup::{PUBLISHER_CONNECTION, SERVICE, build};
use mongodb::bson;
use serde_json::json;
use warren_messages::events::lockers::LockerRequested;
use warren_messages::topology::{LOCKER_SERVICE_LOCKERS, USER_SERVICE_USERS};
use warren_messages::{Broker, Envelope, Publisher};
use warren_testkit::{Management, broker_settings, eventually, mongo_database, spawn, vhost_with};

/// What the management API says about each locker-service connection on `vhost`: whether one
/// of its channels consumes, and how many messages its channels published.
async fn connections(management: &Management, vhost: &str) -> HashMap<String, (bool, u64)> {
    let names: HashMap<String, String> = management
        .get(&format!("vhosts/{vhost}/connections"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|connection| {
            (
                connection["name"].as_str().unwrap().to_owned(),
                connection["user_provided_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let mut found: HashMap<String, (bool, u64)> = HashMap::new();
    for channel in management
        .get(&format!("vhosts/{vhost}/channels"))
        .await
        .as_array()
        .unwrap()
    {
        let connection = channel["connection_details"]["name"].as_str().unwrap();
        let Some(name) = names.get(connection) else {
            continue;
        };
        if !name.starts_with(SERVICE) {
            continue;
        }
        let entry = found.entry(name.clone()).or_default();
        entry.0 |= channel["consumer_count"].as_u64().unwrap_or(0) > 0;
        entry.1 += channel["message_stats"]["publish"].as_u64().unwrap_or(0);
    }
    found
}

#[tokio::test]
async fn outcomes_are_published_on_a_connection_apart_from_the_one_that_consumes() {
    let vhost = vhost_with(&[LOCKER_SERVICE_LOCKERS, USER_SERVICE_USERS]).await;
    let mut settings: Settings = warren_testkit::settings(DEFAULTS);
    settings.broker = broker_settings(SERVICE, &vhost);
    settings.mongo = mongo_database().await;
    let service = spawn(build(settings).await.unwrap());

    // A request with no locker to give: its outcome is published to user-service.
    let user_service = Broker::new(broker_settings("user-service", &vhost), "test-user-service");
    let request: LockerRequested = serde_json::from_value(json!({
        "request_id": bson::Uuid::new().to_string(),
        "user": "ada",
    }))
    .unwrap();
    Publisher::new(Arc::new(user_service.unwrap()))
        .publish(&Envelope::new("user-service", request))
        .await
        .unwrap();
    let management = Management::new();
    assert!(
        management
            .reaches_depth(&vhost, USER_SERVICE_USERS.name, 1, Duration::from_secs(30))
            .await,
        "the outcome was not published"
    );

    // The management API shows the publish once its statistics are collected.
    let (management, at) = (&management, vhost.as_str());
    let published_apart = eventually(Duration::from_secs(30), || async move {
        let seen = connections(management, at).await;
        let consuming: Vec<&(bool, u64)> =
            seen.values().filter(|(consumes, _)| *consumes).collect();
        seen.get(PUBLISHER_CONNECTION) == Some(&(false, 1))
            && consuming.len() == 1
            && consuming[0].1 == 0
    })
    .await;
    assert!(
        published_apart,
        "locker-service's connections (consumes, published): {:?}",
        connections(management, at).await
    );
    service.stop().await;
}
