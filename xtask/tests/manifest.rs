//! The manifest agrees with the code it describes: the broker users of
//! `warren_messages::topology`, each service's binary and its settings (its
//! `configuration/default.toml` over service-kit's shared defaults), and the Dockerfile.

use std::collections::BTreeSet;
use std::path::Path;

use warren_manifest::{BROKER_ADMIN, SERVICES, Service};
use warren_messages::topology::{ADMIN_USER, SERVICE_USERS};

fn read_toml(path: &Path) -> toml::Table {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.parse()
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn service_defaults(service: &Service) -> toml::Table {
    read_toml(
        &xtask::workspace_root()
            .join(service.name)
            .join("configuration/default.toml"),
    )
}

fn shared_defaults() -> toml::Table {
    read_toml(&xtask::workspace_root().join("service-kit/configuration/shared.toml"))
}

fn section<'a>(table: &'a toml::Table, name: &str) -> Option<&'a toml::Table> {
    table.get(name).and_then(toml::Value::as_table)
}

#[test]
fn every_service_is_a_broker_user_of_the_topology_and_no_other_user_exists() {
    let services: BTreeSet<_> = SERVICES.iter().map(|s| s.name).collect();
    let users: BTreeSet<_> = SERVICE_USERS.iter().map(|u| u.name).collect();
    assert_eq!(services, users);
    assert_eq!(BROKER_ADMIN, ADMIN_USER);
}

#[test]
fn every_service_is_a_binary_of_its_own_crate() {
    let root = xtask::workspace_root();
    for service in SERVICES {
        assert!(
            root.join(service.name).join("src/main.rs").exists(),
            "{}: no {}/src/main.rs",
            service.name,
            service.name
        );
    }
}

#[test]
fn the_defaults_agree_with_the_manifest() {
    for service in SERVICES {
        let defaults = service_defaults(service);
        let name = service.name;
        if let Some(port) = section(&defaults, "http").and_then(|http| http.get("port")) {
            assert_eq!(port.as_integer(), Some(i64::from(service.port)), "{name}");
        }
        if let Some(user) = section(&defaults, "broker").and_then(|b| b.get("username")) {
            assert_eq!(user.as_str(), Some(name), "{name}: broker user");
        }
        for postgres in service.postgres {
            let Some(url) = section(&defaults, postgres.section.name).and_then(|p| p.get("url"))
            else {
                panic!("{name}: no default {}.url", postgres.section.name);
            };
            let database = Some(postgres.database.name);
            let url = url.as_str().unwrap_or_default();
            assert_eq!(
                url.rsplit('/').next(),
                database,
                "{name}: postgres.url {url}"
            );
            let user = url
                .strip_prefix("postgres://")
                .and_then(|rest| rest.split_once('@'))
                .map(|(user, _)| user.to_owned());
            assert_eq!(user, service.postgres_role(), "{name}: postgres.url {url}");
        }
        if let Some(database) = section(&defaults, "mongo").and_then(|m| m.get("database")) {
            let expected = service.mongo.map(|m| m.database.name);
            assert_eq!(database.as_str(), expected, "{name}: mongo.database");
        }
    }
}

#[test]
fn every_variable_is_a_setting_the_binary_reads() {
    let shared = shared_defaults();
    for service in SERVICES {
        let own = service_defaults(service);
        for variable in service.environment() {
            let (section_name, key) = variable
                .name
                .strip_prefix("WARREN_")
                .and_then(|rest| rest.split_once("__"))
                .map(|(s, k)| (s.to_lowercase(), k.to_lowercase()))
                .unwrap_or_else(|| panic!("{} is not WARREN_<SECTION>__<KEY>", variable.name));
            let known = [&own, &shared].iter().any(|defaults| {
                section(defaults, &section_name).is_some_and(|s| s.contains_key(&key))
            });
            assert!(
                known,
                "{}: sets {}, which is no key of its settings",
                service.name, variable.name
            );
        }
    }
}

/// A default that cannot work in a container or on another machine: an empty password, or an
/// address on this machine. The listen address is the exception: the Dockerfile sets it.
fn needs_a_value(section: &str, key: &str, default: &toml::Value) -> bool {
    if (section, key) == ("http", "host") {
        return false;
    }
    let text = default.to_string();
    (key == "password" && default.as_str() == Some(""))
        || text.contains("127.0.0.1")
        || text.contains("localhost")
}

#[test]
fn every_setting_without_a_usable_default_is_in_the_environment() {
    let shared = shared_defaults();
    for service in SERVICES {
        let own = service_defaults(service);
        let set: BTreeSet<String> = service
            .environment()
            .into_iter()
            .map(|v| v.name.to_owned())
            .collect();
        // A shared section counts for the services whose own defaults have it.
        for (section_name, settings) in own.iter() {
            let mut keys: Vec<(&String, &toml::Value)> = Vec::new();
            if let Some(settings) = settings.as_table() {
                keys.extend(settings.iter());
            }
            if let Some(shared_settings) = section(&shared, section_name) {
                keys.extend(shared_settings.iter());
            }
            for (key, default) in keys {
                let variable = format!(
                    "WARREN_{}__{}",
                    section_name.to_uppercase(),
                    key.to_uppercase()
                );
                if needs_a_value(section_name, key, default) {
                    assert!(
                        set.contains(&variable),
                        "{}: {variable} is not set and its default ({default}) cannot work \
                         beyond this machine",
                        service.name
                    );
                }
            }
        }
    }
}

#[test]
fn the_image_listens_beyond_its_container() {
    let dockerfile = std::fs::read_to_string(xtask::workspace_root().join("Dockerfile"))
        .expect("the Dockerfile");
    assert!(
        dockerfile.contains("WARREN_HTTP__HOST=0.0.0.0"),
        "the Dockerfile must set WARREN_HTTP__HOST=0.0.0.0"
    );
}
