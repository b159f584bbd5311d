//! vote-service's settings: the shared defaults, `configuration/default.toml` over them, then
//! `WARREN_*` variables (see `warren_service_kit::configuration`).

use secrecy::SecretString;
use serde::Deserialize;
use warren_service_kit::limits::RateLimit;
use warren_service_kit::postgres::PostgresSettings;

warren_service_kit::service_settings!(Sections);

/// vote-service's own sections.
#[derive(Debug, Clone, Deserialize)]
pub struct Sections {
    pub postgres: PostgresSettings,
    pub poll: PollSettings,
    pub web: WebSettings,
    pub results: ResultsSettings,
    /// `POST /vote` per client address, in this instance.
    pub vote_limit: RateLimit,
    #[serde(default)]
    pub clock: ClockSettings,
}

/// The live results.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsSettings {
    /// Server-sent-event streams open at once in this instance; past it a results page gets
    /// 503 for its stream and reloads itself instead. 0 turns live updates off.
    pub max_streams: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSettings {
    pub id: String,
    pub question: String,
    pub options: Vec<String>,
}

/// The forms' settings (`warren_service_kit::configuration::WebSettings`) and how often the
/// tally is read for the live results.
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
