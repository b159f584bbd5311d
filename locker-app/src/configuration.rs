//! locker-app's settings: the shared defaults, `configuration/default.toml` over them, then
//! `WARREN_*` variables (see `warren_service_kit::configuration`).

use serde::Deserialize;
use warren_service_kit::configuration::WebSettings;
use warren_service_kit::mongo::MongoSettings;
use warren_service_kit::postgres::PostgresSettings;

warren_service_kit::service_settings!(Sections);

/// locker-app's own sections.
#[derive(Debug, Clone, Deserialize)]
pub struct Sections {
    /// user-service's database, read only.
    pub postgres: PostgresSettings,
    /// locker-service's database, read only.
    pub mongo: MongoSettings,
    /// The accounts database (sessions, API tokens, failed sign-ins), which locker-app owns.
    pub accounts: PostgresSettings,
    pub sessions: crate::accounts::SessionSettings,
    pub web: WebSettings,
}
