//! The driver of `scripts/chaos`:
//!
//! - `warren-chaos list [SCENARIO...]`: the scenarios named (by number or name, e.g. `1 5 7`),
//!   or all of them, one per line;
//! - `warren-chaos run SCENARIO`: runs one against the release binaries and the cluster of
//!   this environment, and keeps its row in `target/chaos/rows/`;
//! - `warren-chaos report [SCENARIO...]`: writes `target/chaos/report.md` from the rows and exits 1 if
//!   anything confirmed was lost, applied twice, appeared unasked, hung, or a work queue did
//!   not drain, or if nothing was confirmed during or after a fault;
//! - `warren-chaos sabotages`: the self-test's runs, `SABOTAGE SCENARIO` per line;
//! - `warren-chaos run SCENARIO SABOTAGE`: one scenario with one guarantee broken (binaries
//!   built with warren-messages' `sabotage` feature), its row kept apart;
//! - `warren-chaos self-test-report`: writes `target/chaos/self-test.md` and exits 1 unless
//!   every sabotage was caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use warren_messages::sabotage::Sabotage;
use warren_testkit::chaos::{self, Options, Row, SELF_TEST, Scenario};
use warren_testkit::env;

fn rows_dir(root: &std::path::Path) -> PathBuf {
    root.join("target/chaos/rows")
}

fn sabotaged_rows_dir(root: &std::path::Path) -> PathBuf {
    root.join("target/chaos/self-test-rows")
}

fn read_rows(dir: &std::path::Path) -> Vec<Row> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = PathBuf::from(std::env::var("WARREN_ROOT").unwrap_or_else(|_| ".".into()));
    match command.as_str() {
        "list" => {
            let scenarios: Vec<Scenario> = if rest.is_empty() {
                Scenario::ALL.to_vec()
            } else {
                rest.iter()
                    .flat_map(|name| {
                        let found = Scenario::matching(name);
                        assert!(!found.is_empty(), "no scenario {name:?}");
                        found
                    })
                    .collect()
            };
            for scenario in scenarios {
                println!("{}", scenario.name());
            }
        }
        "run" => {
            let name = rest
                .first()
                .expect("usage: warren-chaos run SCENARIO [SABOTAGE]");
            let scenario = Scenario::matching(name)
                .into_iter()
                .find(|s| s.name() == name)
                .unwrap_or_else(|| panic!("no scenario {name:?}"));
            let sabotage = rest.get(1).map(|sabotage| {
                Sabotage::parse(sabotage).unwrap_or_else(|| panic!("no sabotage {sabotage:?}"))
            });
            let options = Options {
                bin_dir: PathBuf::from(env("WARREN_ROOT")).join("target").join(
                    std::env::var("WARREN_CHAOS_PROFILE").unwrap_or_else(|_| "release".into()),
                ),
                fault_for: Duration::from_secs(10),
                clients: 8,
                sabotage,
            };
            let row = chaos::run(scenario, &options).await;
            let (dir, file) = match sabotage {
                None => (rows_dir(&root), format!("{name}.json")),
                Some(sabotage) => (
                    sabotaged_rows_dir(&root),
                    format!("{}-{name}.json", sabotage.name()),
                ),
            };
            println!("{}", chaos::report(std::slice::from_ref(&row)));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(file), serde_json::to_vec_pretty(&row).unwrap()).unwrap();
        }
        "sabotages" => {
            for (sabotage, scenario) in SELF_TEST {
                println!("{} {}", sabotage.name(), scenario.name());
            }
        }
        "self-test-report" => {
            let mut rows = read_rows(&sabotaged_rows_dir(&root));
            for (sabotage, scenario) in SELF_TEST {
                let found = rows.iter().any(|row| {
                    row.scenario == scenario.name()
                        && row.sabotage.as_deref() == Some(sabotage.name())
                });
                if !found {
                    rows.push(Row {
                        scenario: scenario.name().to_owned(),
                        sabotage: Some(sabotage.name().to_owned()),
                        notes: vec!["did not complete (see the output of scripts/chaos)".into()],
                        ..Row::default()
                    });
                }
            }
            rows.sort_by(|a, b| a.sabotage.cmp(&b.sabotage));
            let report = chaos::self_test_report(&rows);
            std::fs::write(root.join("target/chaos/self-test.md"), &report).unwrap();
            println!("{report}");
            if rows.iter().any(|row| row.anomalies() == 0) {
                std::process::exit(1);
            }
        }
        "report" => {
            let mut rows = read_rows(&rows_dir(&root));
            // A scenario expected but without a row did not complete: that is a failure too.
            for name in &rest {
                if !rows.iter().any(|row| &row.scenario == name) {
                    rows.push(Row {
                        scenario: name.clone(),
                        notes: vec!["did not complete (see the output of scripts/chaos)".into()],
                        ..Row::default()
                    });
                }
            }
            rows.sort_by(|a, b| a.scenario.cmp(&b.scenario));
            let report = chaos::report(&rows);
            std::fs::write(root.join("target/chaos/report.md"), &report).unwrap();
            println!("{report}");
            if rows.is_empty() || rows.iter().any(|row| !row.passed()) {
                std::process::exit(1);
            }
        }
        _ => panic!(
            "usage: warren-chaos list [SCENARIO...] | run SCENARIO [SABOTAGE] | report [SCENARIO...] \
             | sabotages | self-test-report"
        ),
    }
}
