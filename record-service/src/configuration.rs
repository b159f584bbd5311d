//! record-service's settings: `configuration/default.toml`, overridden by `WARREN_*` variables.

use secrecy::SecretString;
use serde::Deserialize;
use warren_messages::{BrokerSettings, ConsumerSettings};
use warren_service_kit::configuration::{self, HttpSettings};
use warren_service_kit::postgres::PostgresSettings;
use warren_service_kit::telemetry::TelemetrySettings;

use crate::weather::WeatherSettings;

/// The committed defaults, embedded so that the binary runs from any directory.
pub const DEFAULTS: &str = include_str!("../configuration/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub telemetry: TelemetrySettings,
    pub broker: BrokerSettings,
    pub postgres: PostgresSettings,
    pub consumer: ConsumerSettings,
    pub weather: WeatherSettings,
    pub web: WebSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub csrf_secret: SecretString,
    pub max_body_bytes: u64,
    /// How long Record and Delete wait for the list to show their effect.
    pub settle_ms: u64,
}

impl Settings {
    /// The defaults overridden by the process environment; a bad value names its key.
    pub fn load() -> anyhow::Result<Self> {
        configuration::load(DEFAULTS)
    }
}
