//! locker-service's settings: the shared defaults, `configuration/default.toml` over them, then
//! `WARREN_*` variables (see `warren_service_kit::configuration`).

use serde::Deserialize;
use warren_messages::ConsumerSettings;
use warren_service_kit::mongo::MongoSettings;

warren_service_kit::service_settings!(Sections);

/// locker-service's own sections.
#[derive(Debug, Clone, Deserialize)]
pub struct Sections {
    pub mongo: MongoSettings,
    pub consumer: ConsumerSettings,
}
