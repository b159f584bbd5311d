//! tally-worker's settings: the shared defaults, `configuration/default.toml` over them, then
//! `WARREN_*` variables (see `warren_service_kit::configuration`).

use serde::Deserialize;
use warren_messages::ConsumerSettings;
use warren_service_kit::postgres::PostgresSettings;

warren_service_kit::service_settings!(Sections);

/// tally-worker's own sections.
#[derive(Debug, Clone, Deserialize)]
pub struct Sections {
    pub postgres: PostgresSettings,
    pub consumer: ConsumerSettings,
}
