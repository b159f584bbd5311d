//! Publishing while the broker blocks publishers (a memory alarm): every request gets an
//! answer within the confirm timeout, nothing confirmed is lost, and publishing resumes once
//! the alarm clears.
//!
//! Its own test binary, so that no other test of this crate publishes during the alarm. The
//! alarm is cluster-wide and blocks everyone's publishers, so it is raised on one node, kept to
//! a few seconds and always cleared, also when the test fails.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::TALLY_VOTES;
use warren_messages::{Broker, Consumer, ConsumerSettings, Envelope, PublishError, Publisher};
use warren_testkit::{Management, Recorder, broker_settings, eventually, vhost_with};

/// How late past the confirm timeout an answer may come.
const MARGIN: Duration = Duration::from_secs(2);

fn vote() -> Envelope<VoteCast> {
    Envelope::new(
        "broker-alarm-test",
        VoteCast {
            poll: "default".into(),
            voter_id: Uuid::new_v4(),
            option: "a".into(),
        },
    )
}

/// `function` of scripts/lib/infra.sh, as a command.
fn infra_command(function: &str) -> std::process::Command {
    let root = warren_testkit::env("WARREN_ROOT");
    let mut command = std::process::Command::new("bash");
    command
        .arg("-c")
        .arg(format!(". '{root}/scripts/lib/infra.sh' && {function}"));
    command
}

/// A memory alarm on one node, which blocks publishers on every node of the cluster; cleared
/// when dropped, whatever happened meanwhile.
struct MemoryAlarm {
    node: usize,
    /// The node's watermark before the alarm, as `set_vm_memory_high_watermark` takes it.
    watermark: String,
    raised: bool,
}

impl MemoryAlarm {
    async fn raise(node: usize) -> Self {
        let read = "vm_memory_monitor:get_vm_memory_high_watermark().";
        let output = tokio::process::Command::from(infra_command(&format!(
            "rabbitmqctl_on {node} -q eval '{read}'"
        )))
        .output()
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "cannot read node {node}'s watermark"
        );
        // `0.4`, or `{absolute,1073741824}` for an absolute limit.
        let text = String::from_utf8(output.stdout).unwrap();
        let text = text.trim();
        let watermark = match text.strip_prefix("{absolute,") {
            Some(rest) => format!("absolute {}", rest.trim_end_matches('}')),
            None => text.to_owned(),
        };
        let alarm = Self {
            node,
            watermark,
            raised: true,
        };
        let status = tokio::process::Command::from(infra_command(&format!(
            "rabbitmqctl_on {node} -q set_vm_memory_high_watermark 0.0000001"
        )))
        .status()
        .await
        .unwrap();
        assert!(status.success(), "cannot raise the memory alarm");
        alarm
    }

    fn restore_command(&self) -> std::process::Command {
        infra_command(&format!(
            "rabbitmqctl_on {} -q set_vm_memory_high_watermark {}",
            self.node, self.watermark
        ))
    }

    async fn clear(mut self) {
        let status = tokio::process::Command::from(self.restore_command())
            .status()
            .await;
        self.raised = false;
        assert!(status.unwrap().success(), "cannot clear the memory alarm");
    }
}

impl Drop for MemoryAlarm {
    fn drop(&mut self) {
        if self.raised {
            let _ = self.restore_command().status();
        }
    }
}

/// Whether any node shows a memory alarm.
async fn alarm_shows(management: &Management) -> bool {
    let nodes = management.get("nodes").await;
    nodes
        .as_array()
        .unwrap()
        .iter()
        .any(|node| node["mem_alarm"] == true)
}

#[tokio::test]
async fn publishing_during_a_memory_alarm_answers_in_time_loses_nothing_and_resumes_after() {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let mut settings = broker_settings("vote-service", &vhost);
    // Short, to keep the alarm short.
    settings.confirm_timeout_ms = 2_000;
    let timeout = settings.confirm_timeout();
    let publisher = Publisher::new(Arc::new(Broker::new(settings, "test-alarm").unwrap()));
    let mut confirmed = Vec::new();
    let before = vote();
    publisher.publish(&before).await.unwrap();
    confirmed.push(before.message_id);

    let management = Management::new();
    let alarm = MemoryAlarm::raise(1).await;
    assert!(
        eventually(Duration::from_secs(10), || alarm_shows(&management)).await,
        "the memory alarm did not go off"
    );
    // Publish one at a time while the broker blocks this connection. The first publishes may
    // still go through, or go out and never be confirmed; once the client has heard that the
    // connection is blocked, `basic.publish` itself waits.
    let mut hung = false;
    let mut refused = Vec::new();
    for _ in 0..10 {
        let envelope = vote();
        match tokio::time::timeout(timeout + MARGIN, publisher.publish(&envelope)).await {
            Err(_) => {
                hung = true;
                break;
            }
            Ok(Ok(())) => confirmed.push(envelope.message_id),
            Ok(Err(error)) => refused.push(error),
        }
        if refused.len() == 2 {
            break;
        }
    }
    alarm.clear().await;
    assert!(
        !hung,
        "a publish during the alarm got no answer within {:?}",
        timeout + MARGIN
    );
    assert!(
        !refused.is_empty(),
        "no publish was blocked by the alarm: the test tested nothing"
    );
    assert!(
        refused
            .iter()
            .all(|error| matches!(error, PublishError::Unknown(_))),
        "a publish that may have reached the broker must be unknown: {refused:?}"
    );

    assert!(
        eventually(Duration::from_secs(10), || async {
            !alarm_shows(&management).await
        })
        .await,
        "the memory alarm did not clear"
    );
    let after = vote();
    let publisher = &publisher;
    let after_ref = &after;
    assert!(
        eventually(Duration::from_secs(30), || async move {
            publisher.publish(after_ref).await.is_ok()
        })
        .await,
        "publishing did not resume after the alarm"
    );
    confirmed.push(after.message_id);

    let recorder = Recorder::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(
        Arc::new(
            Broker::new(
                broker_settings("tally-worker", &vhost),
                "test-alarm-consumer",
            )
            .unwrap(),
        ),
        TALLY_VOTES,
        recorder.clone(),
        ConsumerSettings::default(),
    );
    let task = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));
    for message_id in &confirmed {
        assert!(
            recorder
                .wait_for(*message_id, Duration::from_secs(30))
                .await,
            "confirmed message {message_id} was lost"
        );
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}
