//! `amqps://` against the test infrastructure's TLS listener: a message goes out and comes back
//! over TLS when the node's certificate chains to `broker.ca_file`, and a node whose certificate
//! chains to no trusted CA is refused.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{Broker, BrokerError, ConsumerSettings, Envelope, Publisher};
use warren_testkit::tls::{self, OtherCa};
use warren_testkit::{
    Management, Recorder, broker_settings, eventually, run_vote_consumer, vhost_with,
};

/// `user`'s broker on `vhost`, reaching only the TLS listener and trusting `ca_file`.
fn tls_broker(user: &str, vhost: &str, ca_file: Option<PathBuf>) -> Result<Broker, BrokerError> {
    let mut settings = broker_settings(user, vhost);
    settings.nodes = vec![tls::amqps_node()];
    settings.ca_file = ca_file;
    Broker::new(settings, &format!("tls-test-{user}"))
}

#[tokio::test]
async fn a_message_is_published_and_consumed_over_amqps() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let envelope = Envelope::new(
        "tls-test",
        VoteCast {
            poll: "default".into(),
            voter_id: Uuid::new_v4(),
            option: "a".into(),
        },
    );
    let publishing = Arc::new(tls_broker("vote-service", &vhost, Some(tls::ca_file())).unwrap());
    Publisher::new(publishing.clone())
        .publish(&envelope)
        .await
        .unwrap();

    let recorder = Recorder::default();
    let consuming = Arc::new(tls_broker("tally-worker", &vhost, Some(tls::ca_file())).unwrap());
    let (stop, task) = run_vote_consumer(
        consuming.clone(),
        recorder.clone(),
        ConsumerSettings::default(),
    );
    assert!(
        recorder
            .wait_for(envelope.message_id, Duration::from_secs(20))
            .await,
        "the message published over TLS never reached the consumer over TLS"
    );

    // The broker itself says both connections are TLS (not plain TCP on a TLS-looking URL).
    let management = Management::new();
    let both_over_tls = || async {
        let connections = management.get(&format!("vhosts/{vhost}/connections")).await;
        let tls_users: Vec<String> = connections
            .as_array()
            .into_iter()
            .flatten()
            .filter(|connection| connection["ssl"] == true)
            .filter_map(|connection| connection["user"].as_str().map(str::to_owned))
            .collect();
        ["vote-service", "tally-worker"]
            .iter()
            .all(|user| tls_users.iter().any(|seen| seen == user))
    };
    assert!(
        eventually(Duration::from_secs(20), both_over_tls).await,
        "the management API lists no TLS connection of vote-service and tally-worker on {vhost}"
    );
    stop.send(()).unwrap();
    task.await.unwrap();
    publishing.close().await;
    consuming.close().await;
}

#[tokio::test]
async fn a_node_whose_certificate_chains_to_an_untrusted_ca_is_refused() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let other = OtherCa::generate();
    for ca_file in [Some(other.path().to_owned()), None] {
        let broker = tls_broker("vote-service", &vhost, ca_file.clone()).unwrap();
        let refused = broker.ping().await;
        assert!(
            matches!(refused, Err(BrokerError::Unavailable { .. })),
            "trusting {ca_file:?} (and the system's roots): {refused:?}"
        );
    }
}

#[test]
fn a_ca_file_without_a_certificate_is_refused_at_start() {
    let empty = std::env::temp_dir().join(warren_testkit::unique_name("empty-ca"));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let mut settings = broker_settings("vote-service", "warren");
    settings.ca_file = Some(empty.clone());
    let error = Broker::new(settings, "tls-test").err().unwrap().to_string();
    std::fs::remove_file(&empty).unwrap();
    assert!(error.contains("broker.ca_file"), "{error}");
}
