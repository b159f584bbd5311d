//! The workspace's shape: no service crate depends on another service crate (a read model is a
//! store crate that its writer and its readers share), and only the broker adapter
//! (`warren-messages`) and the bare-lapin benchmark (testkit's `warren-bench`) name lapin.

use std::path::Path;

use cargo_metadata::{Metadata, MetadataCommand};
use warren_manifest::SERVICES;

fn metadata() -> Metadata {
    MetadataCommand::new()
        .manifest_path(xtask::workspace_root().join("Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata")
}

fn is_service(name: &str) -> bool {
    SERVICES.iter().any(|service| service.name == name)
}

#[test]
fn no_service_crate_depends_on_another_service_crate() {
    let metadata = metadata();
    let mut found = Vec::new();
    for package in metadata.workspace_packages() {
        if !is_service(&package.name) {
            continue;
        }
        for dependency in &package.dependencies {
            if is_service(&dependency.name) {
                found.push(format!(
                    "{} depends on {} ({:?})",
                    package.name, dependency.name, dependency.kind
                ));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
    let services = metadata
        .workspace_packages()
        .iter()
        .filter(|package| is_service(&package.name))
        .count();
    assert_eq!(
        services,
        SERVICES.len(),
        "every service is a workspace crate"
    );
}

/// Packages whose Cargo.toml may list lapin, and within them the only sources that may use it
/// (`None`: all of them).
const MAY_NAME_LAPIN: &[(&str, Option<&str>)] = &[
    ("warren-messages", None),
    ("warren-testkit", Some("src/bin/warren-bench")),
];

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn only_the_broker_adapter_and_the_benchmark_name_lapin() {
    let metadata = metadata();
    let mut found = Vec::new();
    for package in metadata.workspace_packages() {
        let allowed = MAY_NAME_LAPIN
            .iter()
            .find(|(name, _)| *name == package.name.as_str());
        if allowed.is_none() && package.dependencies.iter().any(|d| d.name == "lapin") {
            found.push(format!("{}'s Cargo.toml lists lapin", package.name));
        }
        if let Some((_, None)) = allowed {
            continue;
        }
        let dir = package
            .manifest_path
            .parent()
            .expect("a manifest has a directory");
        let mut files = Vec::new();
        rust_files(dir.as_std_path(), &mut files);
        for file in files {
            let relative = file.strip_prefix(dir).unwrap_or(&file);
            if let Some((_, Some(only))) = allowed
                && relative.starts_with(only)
            {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            // Spelt in two halves so that this file does not match itself.
            if text.contains(concat!("lapin", "::")) || text.contains(concat!("use ", "lapin")) {
                found.push(format!("{} uses lapin", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
