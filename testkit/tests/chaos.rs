//! The short chaos subset that scripts/test runs (`scripts/chaos` runs every scenario, and
//! `scripts/chaos --self-test` every sabotage): the real service binaries, each consumer
//! scaled out, under load through their frontends, a fault in the middle, and the history
//! checked against the read models; then two guarantees broken on purpose, each of which the
//! checker must report. The binaries are scripts/test's debug builds, which carry
//! warren-messages' `sabotage` feature.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use warren_messages::sabotage::Sabotage;
use warren_testkit::chaos::{self, Options, Scenario};
use warren_testkit::env;

fn options(sabotage: Option<Sabotage>) -> Options {
    Options {
        bin_dir: PathBuf::from(env("WARREN_ROOT")).join("target/debug"),
        fault_for: Duration::from_secs(6),
        clients: 4,
        sabotage,
    }
}

async fn survives(scenario: Scenario) {
    let row = chaos::run(scenario, &options(None)).await;
    let report = chaos::report(std::slice::from_ref(&row));
    println!("{report}");
    assert!(row.confirmed > 0, "nothing was confirmed: {report}");
    assert!(row.passed(), "{report}");
}

async fn catches(sabotage: Sabotage, scenario: Scenario) {
    let row = chaos::run(scenario, &options(Some(sabotage))).await;
    let report = chaos::self_test_report(std::slice::from_ref(&row));
    println!("{report}");
    assert!(
        row.anomalies() > 0,
        "the checker did not catch {}: {report}",
        sabotage.name()
    );
}

/// The tests run one after another: each kills part of the shared cluster.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn confirmed_work_survives_a_killed_leader_killed_consumers_and_poison() {
    let _alone = ONE_AT_A_TIME.lock().await;
    for scenario in [
        Scenario::LeaderKilled,
        Scenario::TallyWorkerKilled,
        Scenario::LockerServiceKilled,
        Scenario::Poison,
    ] {
        survives(scenario).await;
    }
}

#[tokio::test]
async fn the_checker_catches_a_skipped_claim_and_a_skipped_holder_check() {
    let _alone = ONE_AT_A_TIME.lock().await;
    catches(Sabotage::SkipClaim, Scenario::Poison).await;
    catches(Sabotage::SkipHolderCheck, Scenario::LockerServiceKilled).await;
}
