//! The database clients over TLS against the test infrastructure: PostgreSQL (`ssl=on`) with
//! `postgres.sslmode` and `postgres.ca_file`, MongoDB through the URI's `tls=true`. Each
//! connects when the server's certificate chains to the configured CA and is refused when it
//! chains to another.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use secrecy::SecretString;
use warren_service_kit::postgres::{PostgresSettings, SslMode};
use warren_service_kit::{mongo, postgres};
use warren_testkit::sql_value;
use warren_testkit::tls::{self, OtherCa};

async fn postgres_with(sslmode: SslMode, ca_file: Option<&Path>) -> PostgresSettings {
    let mut settings = warren_testkit::postgres_database().await;
    settings.sslmode = sslmode;
    settings.ca_file = ca_file.map(Path::to_owned);
    settings
}

/// Whether the server says this session is encrypted.
async fn session_uses_tls(settings: &PostgresSettings) -> anyhow::Result<bool> {
    let pool = postgres::pool(settings)?;
    let client = pool.get().await?;
    Ok(sql_value(
        &client,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )
    .await)
}

#[tokio::test]
async fn postgres_is_queried_over_tls_verified_against_the_ca_file() {
    for sslmode in [SslMode::Require, SslMode::Prefer] {
        let settings = postgres_with(sslmode, Some(&tls::ca_file())).await;
        assert!(
            session_uses_tls(&settings).await.unwrap(),
            "{sslmode:?} with the CA file"
        );
    }
}

#[tokio::test]
async fn postgres_without_tls_settings_stays_plain() {
    for sslmode in [SslMode::Disable, SslMode::Prefer] {
        let settings = postgres_with(sslmode, None).await;
        assert!(
            !session_uses_tls(&settings).await.unwrap(),
            "{sslmode:?} without a CA file"
        );
    }
    // Disable wins over a CA file.
    let settings = postgres_with(SslMode::Disable, Some(&tls::ca_file())).await;
    assert!(!session_uses_tls(&settings).await.unwrap());
}

#[tokio::test]
async fn postgres_whose_certificate_chains_to_another_ca_is_refused() {
    let other = OtherCa::generate();
    for (sslmode, ca_file) in [
        (SslMode::Require, Some(other.path())),
        (SslMode::Prefer, Some(other.path())),
        // The system's roots do not hold the private CA either.
        (SslMode::Require, None),
    ] {
        let settings = postgres_with(sslmode, ca_file).await;
        let refused = session_uses_tls(&settings).await;
        assert!(
            refused.is_err(),
            "{sslmode:?} with {ca_file:?}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn postgres_refuses_a_ca_file_without_a_certificate_at_start() {
    let empty = std::env::temp_dir().join(warren_testkit::unique_name("empty-ca"));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let settings = postgres_with(SslMode::Require, Some(&empty)).await;
    let error = format!("{:#}", postgres::pool(&settings).err().unwrap());
    std::fs::remove_file(&empty).unwrap();
    assert!(error.contains("postgres.ca_file"), "{error}");
}

async fn mongo_over_tls(ca_file: &Path) -> mongo::MongoSettings {
    let mut settings = warren_testkit::mongo_database().await;
    settings.uri = SecretString::from(tls::mongo_tls_uri(ca_file));
    // The TLS-only server holds no users: no login there.
    settings.username = String::new();
    settings
}

#[tokio::test]
async fn mongo_answers_over_tls_with_the_ca_file_and_refuses_another_ca() {
    let database = mongo::database(&mongo_over_tls(&tls::ca_file()).await, "tls-test")
        .await
        .unwrap();
    mongo::ping(&database).await.unwrap();

    let other = OtherCa::generate();
    let database = mongo::database(&mongo_over_tls(other.path()).await, "tls-test")
        .await
        .unwrap();
    assert!(mongo::ping(&database).await.is_err());
}

#[derive(Debug, serde::Deserialize)]
struct Sections {
    postgres: PostgresSettings,
}

#[test]
fn tls_settings_come_from_the_environment_and_a_bad_sslmode_names_its_key() {
    const DEFAULTS: &str = "[http]\nport = 8089\n[broker]\nusername = \"sample\"\n\
        [postgres]\nurl = \"postgres://sample@127.0.0.1/sample\"\n";
    let load = |pairs: &[(&str, &str)]| {
        warren_service_kit::Settings::<Sections>::load_from(
            DEFAULTS,
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    };
    let defaults = load(&[]).unwrap();
    assert_eq!(defaults.postgres.sslmode, SslMode::Prefer);
    assert_eq!(defaults.postgres.ca_file(), None);
    assert_eq!(defaults.broker.ca_file(), None);

    let set = load(&[
        ("WARREN_POSTGRES__SSLMODE", "require"),
        ("WARREN_POSTGRES__CA_FILE", "/etc/warren/tls/ca.pem"),
        ("WARREN_BROKER__CA_FILE", "/etc/warren/tls/broker-ca.pem"),
    ])
    .unwrap();
    assert_eq!(set.postgres.sslmode, SslMode::Require);
    assert_eq!(
        set.postgres.ca_file(),
        Some(Path::new("/etc/warren/tls/ca.pem"))
    );
    assert_eq!(
        set.broker.ca_file(),
        Some(Path::new("/etc/warren/tls/broker-ca.pem"))
    );
    // An empty variable is no CA file.
    let empty = load(&[("WARREN_BROKER__CA_FILE", "")]).unwrap();
    assert_eq!(empty.broker.ca_file(), None);

    let error = load(&[("WARREN_POSTGRES__SSLMODE", "verify-full")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("sslmode"), "{error}");
}
