//! vote-service's settings: `configuration/default.toml`, overridden by `WARREN_*` variables.

use secrecy::SecretString;
use serde::Deserialize;
use warren_messages::BrokerSettings;
use warren_service_kit::configuration::{self, HttpSettings};
use warren_service_kit::postgres::PostgresSettings;
use warren_service_kit::telemetry::TelemetrySettings;

/// The committed defaults, embedded so that the binary runs from any directory.
pub const DEFAULTS: &str = include_str!("../configuration/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub telemetry: TelemetrySettings,
    pub broker: BrokerSettings,
    pub postgres: PostgresSettings,
    pub poll: PollSettings,
    pub web: WebSettings,
    #[serde(default)]
    pub clock: ClockSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSettings {
    pub id: String,
    pub question: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub csrf_secret: SecretString,
    pub max_body_bytes: u64,
    pub results_refresh_ms: u64,
}

/// A test and operations knob: shifts this instance's clock, to see (in a test or a staging
/// deployment) that votes taken by instances whose clocks disagree are still ordered right.
/// Leave it 0 in production.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSettings {
    pub offset_ms: i64,
}

impl Settings {
    /// The defaults overridden by the process environment; a bad value names its key.
    pub fn load() -> anyhow::Result<Self> {
        configuration::load(DEFAULTS)
    }
}
