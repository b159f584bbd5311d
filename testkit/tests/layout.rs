//! No service crate depends on another service crate, in any kind of dependency (normal, dev
//! or build): a service reads another's data through the store crate they share, and its tests
//! start other services from their binaries. Checked on `cargo metadata`, so a new dependency
//! fails here whichever Cargo.toml adds it.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;
use warren_manifest::SERVICES;

/// The workspace's packages, as `cargo metadata` describes them.
fn packages() -> Vec<Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"].as_array().unwrap().clone()
}

#[test]
fn no_service_depends_on_another_service() {
    let services: Vec<&str> = SERVICES.iter().map(|service| service.name).collect();
    let packages = packages();
    let mut found = Vec::new();
    for service in &services {
        let package = packages
            .iter()
            .find(|package| package["name"] == *service)
            .unwrap_or_else(|| panic!("{service} is not a package of the workspace"));
        for dependency in package["dependencies"].as_array().unwrap() {
            let name = dependency["name"].as_str().unwrap();
            if name != *service && services.contains(&name) {
                let kind = dependency["kind"].as_str().unwrap_or("normal");
                found.push(format!("{service} depends on {name} ({kind})"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "services depend on services:\n{}",
        found.join("\n")
    );
}
