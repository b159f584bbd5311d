//! MongoDB clients from settings. Warren speaks to MongoDB only through the official driver,
//! so the URI may name SecantusDB locally or a real replica set.

use std::time::Duration;

use anyhow::Context;
use mongodb::bson::doc;
use mongodb::options::{AuthMechanism, ClientOptions, Credential};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    /// A `mongodb://` URI; it may hold credentials, so it is never logged.
    pub uri: SecretString,
    pub database: String,
    /// The user to log in as, defined in `database` (SCRAM-SHA-256). Empty: no login of our
    /// own, so a URI that carries its credentials still works.
    pub username: String,
    pub password: SecretString,
    pub timeout_ms: u64,
}

/// A client for `settings`; it connects lazily, so the server may still be starting.
pub async fn database(
    settings: &MongoSettings,
    app_name: &str,
) -> anyhow::Result<mongodb::Database> {
    let mut options = ClientOptions::parse(settings.uri.expose_secret())
        .await
        .context("mongo.uri is not a valid MongoDB URI")?;
    let timeout = Duration::from_millis(settings.timeout_ms);
    options.app_name = Some(app_name.to_owned());
    options.connect_timeout = Some(timeout);
    options.server_selection_timeout = Some(timeout);
    if !settings.username.is_empty() {
        anyhow::ensure!(
            !settings.password.expose_secret().is_empty(),
            "mongo.password (WARREN_MONGO__PASSWORD) is empty, but mongo.username is {}",
            settings.username
        );
        options.credential = Some(
            Credential::builder()
                .username(settings.username.clone())
                .password(settings.password.expose_secret().to_owned())
                .source(settings.database.clone())
                .mechanism(AuthMechanism::ScramSha256)
                .build(),
        );
    }
    let client = mongodb::Client::with_options(options).context("building the MongoDB client")?;
    Ok(client.database(&settings.database))
}

/// Succeeds while the server answers `ping`.
pub async fn ping(database: &mongodb::Database) -> anyhow::Result<()> {
    database
        .run_command(doc! { "ping": 1 })
        .await
        .context("MongoDB did not answer ping")?;
    Ok(())
}
