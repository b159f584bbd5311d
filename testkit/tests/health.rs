//! Every service in the manifest, started from its binary with the environment the manifest
//! gives it, is alive, ready with a check of each store the manifest says it uses (and none it
//! does not use), serves its metrics, all on its admin port and none of it on its public port,
//! and stops cleanly on SIGTERM.
//!
//! The binaries are this build's: `cargo build --workspace --features warren-messages/sabotage`.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use warren_manifest::{
    LOCKER_APP, LOCKER_SERVICE, SERVICES, Service, TALLY_WORKER, USER_SERVICE, VOTE_SERVICE,
};
use warren_testkit::services::{Process, Wiring};

/// The readiness checks named after the stores a service may use.
/// (A PostgreSQL check is named after the settings section of its database.)
const STORE_CHECKS: [&str; 4] = ["postgres", "users", "accounts", "mongo"];

/// The checks `service` must report as "ok": the broker, and each store the manifest gives it.
fn required_checks(service: &Service) -> Vec<&'static str> {
    let mut checks = vec!["broker"];
    checks.extend(service.postgres.iter().map(|p| p.section.name));
    if service.mongo.is_some() {
        checks.push("mongo");
    }
    checks
}

async fn assert_alive_and_ready(process: &Process) {
    let name = process.name();
    let health = reqwest::get(process.admin_url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "{name}: /healthz");
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["service"], name, "{name}: /healthz says {health}");

    let ready = reqwest::get(process.admin_url("/readyz")).await.unwrap();
    let status = ready.status();
    let body: Value = ready.json().await.unwrap();
    assert_eq!(status, 200, "{name}: /readyz answered {body}");
    assert_eq!(body["ready"], true, "{name}: /readyz answered {body}");
    let checks = body["checks"].as_object().unwrap();
    let required = required_checks(process.service());
    for check in &required {
        assert_eq!(
            checks.get(*check),
            Some(&Value::from("ok")),
            "{name}: {body}"
        );
    }
    for (check, outcome) in checks {
        assert_eq!(outcome, "ok", "{name}: {check} in {body}");
        assert!(
            !STORE_CHECKS.contains(&check.as_str()) || required.contains(&check.as_str()),
            "{name} checks {check}, a store the manifest does not give it: {body}"
        );
    }

    let metrics = reqwest::get(process.admin_url("/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200, "{name}: /metrics");

    // The public port, what the reverse proxy reaches, serves none of them.
    assert_ne!(process.port(), process.admin_port());
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = reqwest::get(process.url(path)).await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 404, "{name}: public {path} answered {body}");
        for told in ["\"checks\"", "\"alive\"", "# TYPE "] {
            assert!(
                !body.contains(told),
                "{name}: public {path} answered {body}"
            );
        }
    }
}

#[tokio::test]
async fn every_service_is_ready_with_a_check_of_each_of_its_stores() {
    let wiring = Wiring::fresh(SERVICES).await;
    // In the manifest's order, writers before the readers of their stores, and all running at
    // once, as in a deployment.
    let mut processes = Vec::new();
    for service in SERVICES {
        let process = wiring.start(*service).await;
        assert_alive_and_ready(&process).await;
        processes.push(process);
    }
    for process in &mut processes {
        let status = process.stop().await;
        assert!(
            status.success(),
            "{} stopped on SIGTERM with {status}",
            process.name()
        );
    }
}

/// The launched environment of `service`, as a map.
fn environment(wiring: &Wiring, service: Service) -> std::collections::BTreeMap<String, String> {
    wiring
        .launch(service)
        .environment()
        .iter()
        .cloned()
        .collect()
}

#[tokio::test]
async fn each_service_gets_its_manifest_variables_and_a_reader_its_writers_database() {
    let wiring = Wiring::fresh(SERVICES).await;
    for service in SERVICES {
        let rendered = environment(&wiring, *service);
        let names: Vec<&str> = rendered.keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = service.environment().iter().map(|v| v.name).collect();
        expected.sort_unstable();
        assert_eq!(names, expected, "{}", service.name);
        assert_eq!(
            rendered["WARREN_BROKER__VHOST"],
            wiring.vhost(),
            "{}",
            service.name
        );
    }
    let url = |service| environment(&wiring, service)["WARREN_POSTGRES__URL"].clone();
    let database = |service| url(service).rsplit_once('/').unwrap().1.to_owned();
    assert_eq!(database(VOTE_SERVICE), database(TALLY_WORKER));
    assert_eq!(database(LOCKER_APP), database(USER_SERVICE));
    assert_ne!(database(TALLY_WORKER), database(USER_SERVICE));
    // Each as its own role.
    assert!(url(VOTE_SERVICE).starts_with("postgres://vote_service@"));
    assert!(url(TALLY_WORKER).starts_with("postgres://tally_worker@"));
    let mongo = |service| environment(&wiring, service)["WARREN_MONGO__DATABASE"].clone();
    assert_eq!(mongo(LOCKER_APP), mongo(LOCKER_SERVICE));
    // Two instances of a frontend sign forms with one secret.
    let secret = |service| environment(&wiring, service)["WARREN_WEB__CSRF_SECRET"].clone();
    assert_eq!(secret(VOTE_SERVICE), secret(VOTE_SERVICE));
    assert_ne!(secret(VOTE_SERVICE), secret(LOCKER_APP));
}
