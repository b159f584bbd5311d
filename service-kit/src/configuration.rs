//! Typed settings: a committed defaults file, then environment variables.
//!
//! Every service embeds its `configuration/default.toml` and deserialises it, overridden by
//! variables named `WARREN_<SECTION>__<KEY>` (for example `WARREN_BROKER__PASSWORD`), into its
//! own `Settings` type. A missing or malformed value fails at start with the key's name.

use anyhow::Context;
use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The prefix of every environment variable Warren reads for its settings.
pub const ENV_PREFIX: &str = "WARREN";

/// Loads settings from the embedded defaults, then the process environment.
pub fn load<T: DeserializeOwned>(defaults_toml: &str) -> anyhow::Result<T> {
    load_from(defaults_toml, std::env::vars())
}

/// Loads settings from the embedded defaults, then the given variables (tests pass their own).
pub fn load_from<T: DeserializeOwned>(
    defaults_toml: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<T> {
    let source = vars.into_iter().collect();
    let config = Config::builder()
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
        .context("reading the settings")?;
    config.try_deserialize().map_err(|error| {
        anyhow::anyhow!(
            "invalid settings: {error} (set it in configuration/default.toml or as {ENV_PREFIX}_<SECTION>__<KEY>)"
        )
    })
}

/// Where a service's HTTP listener binds. Port 0 picks a free port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        http: HttpSettings,
    }

    const DEFAULTS: &str = "[http]\nhost = \"127.0.0.1\"\nport = 8080\n";

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
}
