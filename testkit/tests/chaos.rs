//! The short chaos subset that scripts/test runs (scenarios 1, 5 and 7; `scripts/chaos` runs
//! them all): the real service binaries under load through their frontends, a fault in the
//! middle, and the history checked against the read models.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use warren_testkit::chaos::{self, Options, Scenario};
use warren_testkit::env;

fn options() -> Options {
    Options {
        bin_dir: PathBuf::from(env("WARREN_ROOT")).join("target/debug"),
        fault_for: Duration::from_secs(6),
        clients: 4,
    }
}

async fn survives(scenario: Scenario) {
    let row = chaos::run(scenario, &options()).await;
    let report = chaos::report(std::slice::from_ref(&row));
    println!("{report}");
    assert!(row.confirmed > 0, "nothing was confirmed: {report}");
    assert!(row.passed(), "{report}");
}

// One test, so that the scenarios run one after another: each kills part of the shared cluster.
#[tokio::test]
async fn confirmed_work_survives_a_killed_leader_killed_consumers_and_poison() {
    for scenario in [
        Scenario::LeaderKilled,
        Scenario::TallyWorkerKilled,
        Scenario::LockerServiceKilled,
        Scenario::Poison,
    ] {
        survives(scenario).await;
    }
}
