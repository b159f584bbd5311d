//! record-service's projection run as two instances against one PostgreSQL database: a record
//! and its deletion handled at the same moment by different instances must end deleted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Utc;
use record_service::configuration::{DEFAULTS, Settings};
use record_service::consumers::records::{Incoming, RecordProjection};
use record_service::startup::{SERVICE, build};
use record_service::storage;
use uuid::Uuid;
use warren_messages::events::records::{Observation, RecordDeleted, WeatherRecorded};
use warren_messages::topology::DEFAULT_VHOST;
use warren_messages::{Envelope, Handler, Outcome};
use warren_service_kit::postgres::{self, PostgresSettings};
use warren_testkit::{broker_settings, postgres_database};

/// A fresh database with record-service's migrations applied (building the service applies
/// them; it is not started, so it never connects to the broker).
async fn migrated_database() -> PostgresSettings {
    let mut settings: Settings = warren_testkit::settings(DEFAULTS);
    settings.broker = broker_settings(SERVICE, DEFAULT_VHOST);
    settings.postgres = postgres_database().await;
    let postgres = settings.postgres.clone();
    drop(build(settings).await.unwrap());
    postgres
}

fn observation() -> Observation {
    Observation {
        city: "Reykjavík".into(),
        region: Some("Capital Region".into()),
        country: "Iceland".into(),
        latitude: 64.14,
        longitude: -21.94,
        timezone: "Atlantic/Reykjavik".into(),
        local_time: "2026-11-22T18:45".into(),
        observed_at: Utc::now(),
        temperature_c: -2.3,
        weather_code: 71,
        condition: "Slight snow fall".into(),
        is_day: false,
    }
}

/// Hands `batch` to `instance`, as the consumer runner would; every event must apply at the
/// first attempt (a deadlock between instances would come back as a retry).
async fn deliver(instance: &RecordProjection, batch: Vec<Incoming>) {
    let outcomes = instance.handle(&batch).await;
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, Outcome::Done)),
        "not applied at once: {outcomes:?}"
    );
}

fn recorded(record_id: Uuid) -> Incoming {
    Incoming::Recorded(Envelope::new(
        SERVICE,
        WeatherRecorded {
            record_id,
            observation: observation(),
        },
    ))
}

fn deletion(record_id: Uuid) -> Incoming {
    Incoming::Deleted(Envelope::new(
        SERVICE,
        RecordDeleted {
            record_id,
            actor: Some("operator".into()),
        },
    ))
}

/// Records and deletes `rounds` × `per_round` records, each record's two events applied at once
/// by two instances; returns the deleted records that are present afterwards. One at a time,
/// every pair is its own pair of batches; batched, each instance gets one batch per round
/// holding one event of every record of the round, the other instance the other events in the
/// opposite order.
async fn resurrected_after_racing(rounds: usize, per_round: usize, batched: bool) -> Vec<Uuid> {
    let database = migrated_database().await;
    // Two instances: each its own projection and its own connection pool.
    let first = Arc::new(RecordProjection::new(postgres::pool(&database).unwrap()));
    let second = Arc::new(RecordProjection::new(postgres::pool(&database).unwrap()));
    let reader = postgres::pool(&database).unwrap();

    let mut deleted = Vec::new();
    for round in 0..rounds {
        let mut batches: Vec<(Arc<RecordProjection>, Vec<Incoming>)> = Vec::new();
        let (mut to_first, mut to_second) = (Vec::new(), Vec::new());
        for pair in 0..per_round {
            let record_id = Uuid::new_v4();
            deleted.push(record_id);
            // Which instance gets which event alternates, so neither is always the deleter.
            let (mine, theirs) = if (round + pair) % 2 == 0 {
                (deletion(record_id), recorded(record_id))
            } else {
                (recorded(record_id), deletion(record_id))
            };
            if batched {
                to_first.push(mine);
                to_second.insert(0, theirs);
            } else {
                batches.push((first.clone(), vec![mine]));
                batches.push((second.clone(), vec![theirs]));
            }
        }
        if batched {
            batches.push((first.clone(), to_first));
            batches.push((second.clone(), to_second));
        }
        let mut running = tokio::task::JoinSet::new();
        for (instance, batch) in batches {
            running.spawn(async move { deliver(&instance, batch).await });
        }
        while let Some(joined) = running.join_next().await {
            joined.unwrap();
        }
    }

    let mut resurrected = Vec::new();
    for record_id in deleted {
        assert!(storage::was_deleted(&reader, record_id).await.unwrap());
        if storage::exists(&reader, record_id).await.unwrap() {
            resurrected.push(record_id);
        }
    }
    resurrected
}

/// Races `rounds` rounds of `per_round` records and their deletions on two instances, and
/// asserts that none of the deleted records came back.
async fn assert_none_resurrected(rounds: usize, per_round: usize, batched: bool) {
    let resurrected = resurrected_after_racing(rounds, per_round, batched).await;
    assert!(
        resurrected.is_empty(),
        "{} of {} deleted records are present, for example {:?}",
        resurrected.len(),
        rounds * per_round,
        resurrected.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deletion_and_its_record_on_two_instances_at_once_never_resurrect_the_record() {
    assert_none_resurrected(40, 8, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_of_deletions_and_records_on_two_instances_neither_resurrect_nor_deadlock() {
    assert_none_resurrected(40, 20, true).await;
}
