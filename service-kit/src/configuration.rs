//! Typed settings: committed defaults files, then environment variables.
//!
//! Three layers, each over the one before: `service-kit/configuration/shared.toml` (what every
//! service shares: the HTTP and admin listeners' hosts, telemetry, the broker cluster, database
//! pool defaults), the
//! service's own `configuration/default.toml` (only what differs: its port, its broker user,
//! its database, its own sections), and variables named `WARREN_<SECTION>__<KEY>` (for example
//! `WARREN_BROKER__PASSWORD`). A missing or malformed value fails at start with the key's name.
//!
//! A service's settings are `Settings<Sections>`: the sections every service has (`http`,
//! `admin`, `telemetry`, `broker`) and the service's own `Sections`, read from the same layers.

use std::ops::{Deref, DerefMut};

use anyhow::Context;
use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use warren_messages::BrokerSettings;

use crate::telemetry::TelemetrySettings;

/// The prefix of every environment variable Warren reads for its settings.
pub const ENV_PREFIX: &str = "WARREN";

/// The defaults every service shares, beneath each service's own defaults.
pub const SHARED_DEFAULTS: &str = include_str!("../configuration/shared.toml");

/// A service's settings: the sections every service has, and its own (`T`).
///
/// It dereferences to `T`, so a service's own sections read as `settings.postgres`, like the
/// shared ones (`settings.broker`), whichever struct declares them.
#[derive(Debug, Clone)]
pub struct Settings<T> {
    /// The public listener: the service's own pages and endpoints, what a reverse proxy reaches.
    pub http: HttpSettings,
    /// The admin listener: `/healthz`, `/readyz` and `/metrics`, for probes and scrapers only.
    pub admin: AdminSettings,
    pub telemetry: TelemetrySettings,
    pub broker: BrokerSettings,
    /// The service's own sections.
    pub own: T,
}

/// Declares a service's `DEFAULTS`, its `configuration/default.toml` (embedded, so the binary
/// runs from any directory), and its `Settings`: the shared sections and `$sections`, its own.
#[macro_export]
macro_rules! service_settings {
    ($sections:ty) => {
        /// The service's own defaults, read over the shared ones.
        pub const DEFAULTS: &str = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configuration/default.toml"
        ));

        /// The shared sections (`http`, `admin`, `telemetry`, `broker`) and the service's own.
        pub type Settings = $crate::Settings<$sections>;
    };
}

/// The shared sections, read apart from the service's own: the two are two structs over one
/// table (serde's `flatten` would lose the config crate's coercion of strings into numbers).
#[derive(Deserialize)]
struct Shared {
    http: HttpSettings,
    admin: AdminSettings,
    telemetry: TelemetrySettings,
    broker: BrokerSettings,
}

impl<T: DeserializeOwned> Settings<T> {
    /// The shared defaults, then the service's `defaults_toml`, then the process environment.
    pub fn load(defaults_toml: &str) -> anyhow::Result<Self> {
        Self::load_from(defaults_toml, std::env::vars())
    }

    /// The same with the given variables instead of the process environment (tests).
    pub fn load_from(
        defaults_toml: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let config = layers(defaults_toml, vars)?;
        let Shared {
            http,
            admin,
            telemetry,
            broker,
        } = deserialize(config.clone())?;
        Ok(Self {
            http,
            admin,
            telemetry,
            broker,
            own: deserialize(config)?,
        })
    }
}

impl<T> Deref for Settings<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.own
    }
}

impl<T> DerefMut for Settings<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.own
    }
}

/// Loads any settings type from the shared defaults, `defaults_toml`, then the given variables.
pub fn load_from<T: DeserializeOwned>(
    defaults_toml: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<T> {
    deserialize(layers(defaults_toml, vars)?)
}

fn layers(
    defaults_toml: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Config> {
    let source = vars.into_iter().collect();
    Config::builder()
        .add_source(File::from_str(SHARED_DEFAULTS, FileFormat::Toml))
        .add_source(File::from_str(defaults_toml, FileFormat::Toml))
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("broker.nodes")
                .with_list_parse_key("poll.options")
                .try_parsing(true)
                .source(Some(source)),
        )
        .build()
        .context("reading the settings")
}

fn deserialize<T: DeserializeOwned>(config: Config) -> anyhow::Result<T> {
    config.try_deserialize().map_err(|error| {
        anyhow::anyhow!(
            "invalid settings: {error} (set it in configuration/default.toml or as {ENV_PREFIX}_<SECTION>__<KEY>)"
        )
    })
}

/// Where a service's public HTTP listener binds. Port 0 picks a free port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    /// The proxies whose `X-Forwarded-For` names the client (`limits::TrustedProxies`).
    #[serde(default)]
    pub trusted_proxies: crate::limits::TrustedProxies,
}

/// Where a service's admin listener (`/healthz`, `/readyz`, `/metrics`) binds: loopback unless
/// set. Port 0 picks a free port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub host: String,
    pub port: u16,
}

/// A frontend's forms: the secret that signs its tokens and the largest body it reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub csrf_secret: SecretString,
    pub max_body_bytes: u64,
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        http: HttpSettings,
    }

    #[derive(Debug, Deserialize)]
    struct Own {
        postgres: crate::postgres::PostgresSettings,
    }

    const DEFAULTS: &str = "[http]\nhost = \"127.0.0.1\"\nport = 8080\n";

    const SERVICE_DEFAULTS: &str = "[http]\nport = 8089\n[broker]\nusername = \"sample\"\n\
        [postgres]\nurl = \"postgres://warren@127.0.0.1:5432/sample\"\n";

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults() {
        let settings: Sample = load_from(DEFAULTS, vars(&[("WARREN_HTTP__PORT", "9000")])).unwrap();
        assert_eq!(settings.http.port, 9000);
        assert_eq!(settings.http.host, "127.0.0.1");
    }

    #[test]
    fn a_bad_value_fails_naming_the_key() {
        let error = load_from::<Sample>(DEFAULTS, vars(&[("WARREN_HTTP__PORT", "eighty")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("http.port"), "{error}");
    }

    #[test]
    fn a_missing_value_fails_naming_the_key() {
        let error = load_from::<Sample>("[http]\nhost = \"x\"\n", vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("port"), "{error}");
    }

    #[test]
    fn a_service_reads_the_shared_defaults_beneath_its_own() {
        let settings = Settings::<Own>::load_from(SERVICE_DEFAULTS, vars(&[])).unwrap();
        assert_eq!(settings.http.host, "127.0.0.1");
        assert_eq!(settings.http.port, 8089);
        assert_eq!(
            settings.admin.host, "127.0.0.1",
            "the admin listener is loopback's"
        );
        assert_eq!(
            settings.admin.port, 0,
            "a free port unless the environment gives one"
        );
        assert_eq!(settings.broker.username, "sample");
        assert_eq!(settings.broker.vhost, "warren");
        assert_eq!(settings.broker.nodes.len(), 3);
        assert_eq!(settings.postgres.pool_size, 16);
        assert_eq!(settings.postgres.database(), "sample");
    }

    #[test]
    fn the_environment_overrides_shared_and_own_sections_alike() {
        let settings = Settings::<Own>::load_from(
            SERVICE_DEFAULTS,
            vars(&[
                ("WARREN_BROKER__NODES", "amqp://a:1,amqp://b:2"),
                ("WARREN_BROKER__PASSWORD", "12345"),
                ("WARREN_POSTGRES__PASSWORD", "67890"),
                ("WARREN_POSTGRES__POOL_SIZE", "4"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.broker.nodes, ["amqp://a:1", "amqp://b:2"]);
        assert_eq!(settings.broker.password.expose_secret(), "12345");
        assert_eq!(settings.postgres.password.expose_secret(), "67890");
        assert_eq!(settings.postgres.pool_size, 4);
    }

    #[test]
    fn the_admin_listener_is_set_apart_from_the_public_one() {
        let settings = Settings::<Own>::load_from(
            SERVICE_DEFAULTS,
            vars(&[
                ("WARREN_HTTP__HOST", "0.0.0.0"),
                ("WARREN_ADMIN__PORT", "9089"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.http.host, "0.0.0.0");
        assert_eq!(settings.admin.host, "127.0.0.1");
        assert_eq!(settings.admin.port, 9089);
        let error =
            Settings::<Own>::load_from(SERVICE_DEFAULTS, vars(&[("WARREN_ADMIN__PORT", "ninety")]))
                .unwrap_err()
                .to_string();
        assert!(error.contains("admin.port"), "{error}");
    }

    #[test]
    fn a_bad_value_in_a_services_own_section_fails_naming_the_key() {
        let error = Settings::<Own>::load_from(
            SERVICE_DEFAULTS,
            vars(&[("WARREN_POSTGRES__POOL_SIZE", "many")]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("postgres.pool_size"), "{error}");
    }
}
