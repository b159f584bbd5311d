//! user-service's settings: the shared defaults, `configuration/default.toml` over them, then
//! `WARREN_*` variables (see `warren_service_kit::configuration`).

use serde::Deserialize;
use warren_messages::ConsumerSettings;
use warren_messages::exactly_once::Retention;
use warren_service_kit::postgres::PostgresSettings;

use crate::outbox::OutboxSettings;

warren_service_kit::service_settings!(Sections);

/// user-service's own sections.
#[derive(Debug, Clone, Deserialize)]
pub struct Sections {
    pub postgres: PostgresSettings,
    pub consumer: ConsumerSettings,
    pub outbox: OutboxSettings,
    pub applied_messages: Retention,
}
