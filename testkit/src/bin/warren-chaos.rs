//! The driver of `scripts/chaos`:
//!
//! - `warren-chaos list [SCENARIO...]`: the scenarios named (by number or name, e.g. `1 5 7`),
//!   or all of them, one per line;
//! - `warren-chaos run SCENARIO`: runs one against the release binaries and the cluster of
//!   this environment, and keeps its row in `target/chaos/rows/`;
//! - `warren-chaos report [SCENARIO...]`: writes `target/chaos/report.md` from the rows and exits 1 if
//!   anything confirmed was lost, applied twice, appeared unasked, hung, or a work queue did
//!   not drain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use warren_testkit::chaos::{self, Options, Row, Scenario};
use warren_testkit::env;

fn rows_dir(root: &std::path::Path) -> PathBuf {
    root.join("target/chaos/rows")
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
            let name = rest.first().expect("usage: warren-chaos run SCENARIO");
            let scenario = Scenario::matching(name)
                .into_iter()
                .find(|s| s.name() == name)
                .unwrap_or_else(|| panic!("no scenario {name:?}"));
            let options = Options {
                bin_dir: PathBuf::from(env("WARREN_ROOT")).join("target/release"),
                fault_for: Duration::from_secs(10),
                clients: 8,
            };
            let row = chaos::run(scenario, &options).await;
            println!("{}", chaos::report(std::slice::from_ref(&row)));
            std::fs::create_dir_all(rows_dir(&root)).unwrap();
            std::fs::write(
                rows_dir(&root).join(format!("{name}.json")),
                serde_json::to_vec_pretty(&row).unwrap(),
            )
            .unwrap();
        }
        "report" => {
            let mut rows: Vec<Row> = std::fs::read_dir(rows_dir(&root))
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|entry| {
                            serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap()
                        })
                        .collect()
                })
                .unwrap_or_default();
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
        _ => panic!("usage: warren-chaos list [SCENARIO...] | run SCENARIO | report [SCENARIO...]"),
    }
}
