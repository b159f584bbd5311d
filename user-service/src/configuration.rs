//! user-service's settings: `configuration/default.toml`, overridden by `WARREN_*` variables.

use serde::Deserialize;
use warren_messages::exactly_once::Retention;
use warren_messages::{BrokerSettings, ConsumerSettings};
use warren_service_kit::configuration::{self, HttpSettings};
use warren_service_kit::postgres::PostgresSettings;
use warren_service_kit::telemetry::TelemetrySettings;

use crate::outbox::OutboxSettings;

/// The committed defaults, embedded so that the binary runs from any directory.
pub const DEFAULTS: &str = include_str!("../configuration/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub telemetry: TelemetrySettings,
    pub broker: BrokerSettings,
    pub postgres: PostgresSettings,
    pub consumer: ConsumerSettings,
    pub outbox: OutboxSettings,
    pub applied_messages: Retention,
}

impl Settings {
    /// The defaults overridden by the process environment; a bad value names its key.
    pub fn load() -> anyhow::Result<Self> {
        configuration::load(DEFAULTS)
    }
}
