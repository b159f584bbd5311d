//! record-service's settings: the shared defaults, `configuration/default.toml` over them, then
//! `WARREN_*` variables (see `warren_service_kit::configuration`).

use secrecy::SecretString;
use serde::Deserialize;
use warren_messages::ConsumerSettings;
use warren_service_kit::postgres::PostgresSettings;

use crate::weather::WeatherSettings;

warren_service_kit::service_settings!(Sections);

/// record-service's own sections.
#[derive(Debug, Clone, Deserialize)]
pub struct Sections {
    pub postgres: PostgresSettings,
    /// user-service's users read model, read for each account's role.
    pub users: PostgresSettings,
    /// locker-app's sessions and API tokens, read to know who is asking.
    pub accounts: PostgresSettings,
    pub consumer: ConsumerSettings,
    pub weather: WeatherSettings,
    pub web: WebSettings,
}

/// The forms' settings (`warren_service_kit::configuration::WebSettings`) and how long Record
/// and Delete wait for the list to show their effect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub csrf_secret: SecretString,
    pub max_body_bytes: u64,
    pub settle_ms: u64,
    /// Where people sign in (locker-app's address), linked from the pages that ask for an
    /// operator; empty: the pages name locker-app without a link.
    #[serde(default)]
    pub sign_in_url: String,
}
