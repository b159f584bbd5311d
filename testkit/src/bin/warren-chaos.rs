//! `warren-chaos [SCENARIO...]` (`scripts/chaos`): runs the fault scenarios (all, or those named
//! by number or name, e.g. `1 5 7`) against the release binaries, writes
//! `target/chaos/report.md`, and exits 1 if anything confirmed was lost, anything was applied
//! twice, anything appeared that was never attempted, or a work queue did not drain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use warren_testkit::chaos::{self, Options, Scenario};
use warren_testkit::env;

#[tokio::main]
async fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let scenarios: Vec<Scenario> = if names.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        names
            .iter()
            .flat_map(|name| {
                let found = Scenario::matching(name);
                assert!(!found.is_empty(), "no scenario {name:?}");
                found
            })
            .collect()
    };
    let root = PathBuf::from(env("WARREN_ROOT"));
    let options = Options {
        bin_dir: root.join("target/release"),
        fault_for: Duration::from_secs(10),
        clients: 8,
    };
    let mut rows = Vec::new();
    for scenario in scenarios {
        println!("running {}", scenario.name());
        let row = chaos::run(scenario, &options).await;
        println!(
            "  attempted {} confirmed {} lost {} duplicated {} unexpected {} recovered {} queues empty {}",
            row.attempted,
            row.confirmed,
            row.lost,
            row.duplicated,
            row.unexpected,
            row.recovered,
            row.queues_empty
        );
        rows.push(row);
    }
    let report = chaos::report(&rows);
    let directory = root.join("target/chaos");
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::write(directory.join("report.md"), &report).unwrap();
    println!("\n{report}");
    if rows.iter().any(|row| !row.passed()) {
        std::process::exit(1);
    }
}
