//! PostgreSQL connection pools and migrations from settings.
//!
//! TLS follows `postgres.sslmode`: `disable` never, `prefer` when the server offers it and a
//! `postgres.ca_file` is set (without one, plain as before), `require` always. Every TLS
//! connection verifies the server's certificate and that it names the URL's host, against
//! `postgres.ca_file` alone when it is set and the system's roots otherwise; libpq's
//! `verify-full` is what `require` does here (tokio-postgres names no other modes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_postgres::NoTls;
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    /// A `postgres://user@host:port/database` URL, best without the password.
    pub url: SecretString,
    /// The password, kept apart from the URL so it never appears in a log line.
    pub password: SecretString,
    pub pool_size: usize,
    pub connect_timeout_ms: u64,
    /// `disable`, `prefer` or `require`; it replaces an `sslmode` in the URL.
    #[serde(default)]
    pub sslmode: SslMode,
    /// A PEM file of the CA certificates the server's certificate must chain to (only these).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Whether connections use TLS (`postgres.sslmode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
}

impl PostgresSettings {
    pub fn config(&self) -> anyhow::Result<tokio_postgres::Config> {
        let mut config: tokio_postgres::Config = self
            .url
            .expose_secret()
            .parse()
            .context("postgres.url is not a valid PostgreSQL URL")?;
        if !self.password.expose_secret().is_empty() {
            config.password(self.password.expose_secret());
        }
        config.connect_timeout(Duration::from_millis(self.connect_timeout_ms));
        config.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require => tokio_postgres::config::SslMode::Require,
        });
        Ok(config)
    }

    /// The CA file, if one is set (an empty value from the environment is none).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file
            .as_deref()
            .filter(|path| !path.as_os_str().is_empty())
    }

    /// The TLS connector these settings ask for, or none where connections stay plain.
    pub fn tls(&self) -> anyhow::Result<Option<MakeRustlsConnect>> {
        let roots = match (self.sslmode, self.ca_file()) {
            (SslMode::Disable, _) | (SslMode::Prefer, None) => return Ok(None),
            (_, Some(path)) => ca_roots(path)?,
            (SslMode::Require, None) => system_roots()?,
        };
        // The provider is named here rather than taken from the process: mongodb builds ring
        // and lapin aws-lc-rs into every binary, and rustls will not choose between them.
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS for PostgreSQL")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Some(MakeRustlsConnect::new(config)))
    }

    /// The database the URL names, for log lines (never the URL itself).
    pub fn database(&self) -> String {
        self.config()
            .ok()
            .and_then(|config| config.get_dbname().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// The certificates of `postgres.ca_file`, the only roots a connection then trusts.
fn ca_roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let invalid = || {
        format!(
            "postgres.ca_file {} is not a PEM file of CA certificates",
            path.display()
        )
    };
    let pem = std::fs::read(path).with_context(invalid)?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(certificate.with_context(invalid)?)
            .with_context(invalid)?;
    }
    anyhow::ensure!(!roots.is_empty(), "{}: no certificate in it", invalid());
    Ok(roots)
}

fn system_roots() -> anyhow::Result<RootCertStore> {
    let native = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(native.certs);
    anyhow::ensure!(
        !roots.is_empty(),
        "postgres.sslmode is require without postgres.ca_file, and the system has no CA certificates ({:?})",
        native.errors
    );
    Ok(roots)
}

/// A pool that connects on demand: building it never fails because the server is down.
pub fn pool(settings: &PostgresSettings) -> anyhow::Result<Pool> {
    let config = settings.config()?;
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match settings.tls()? {
        Some(tls) => Manager::from_config(config, tls, manager_config),
        None => Manager::from_config(config, NoTls, manager_config),
    };
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .create_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("building the PostgreSQL pool")
}

/// Succeeds while the server answers a query.
pub async fn ping(pool: &Pool) -> anyhow::Result<()> {
    let client = pool.get().await.context("no PostgreSQL connection")?;
    client
        .simple_query("SELECT 1")
        .await
        .context("PostgreSQL did not answer")?;
    Ok(())
}

/// A store's migrations: the shared exactly-once table (`applied_messages`, version 1) first,
/// then the store's own (from version 2), as `refinery::embed_migrations!` embeds them.
pub fn after_claims(own: &refinery::Runner) -> refinery::Runner {
    let mut migrations = warren_messages::exactly_once::migrations();
    migrations.extend(own.get_migrations().iter().cloned());
    refinery::Runner::new(&migrations)
}

/// Applies the embedded migrations of the service that owns this database.
pub async fn migrate(pool: &Pool, runner: refinery::Runner) -> anyhow::Result<()> {
    let mut client = pool
        .get()
        .await
        .context("no PostgreSQL connection for migrations")?;
    let client: &mut tokio_postgres::Client = &mut client;
    let report = runner
        .run_async(client)
        .await
        .context("applying migrations")?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "migration applied");
    }
    Ok(())
}

/// Gives each reader of `database` (as `warren_manifest` states them) `SELECT` on exactly the
/// tables it reads, and nothing else on any table: run by the owner once its migrations have
/// made the tables, so that the grants follow the schema. A reader whose role the server lacks
/// (a server of the operator's own, without the roles) is skipped with a warning.
pub async fn grant_readers(
    pool: &Pool,
    database: &warren_manifest::Database,
) -> anyhow::Result<()> {
    let mut client = pool
        .get()
        .await
        .context("no PostgreSQL connection for the readers' grants")?;
    for grant in warren_manifest::postgres::reader_grants(database) {
        let transaction = client
            .transaction()
            .await
            .context("starting the readers' grants")?;
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock($1)",
                &[&warren_manifest::postgres::GRANTS_LOCK],
            )
            .await
            .context("locking the readers' grants")?;
        let mut missing = false;
        for statement in &grant.statements {
            if let Err(error) = transaction.batch_execute(statement).await {
                if error.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_OBJECT) {
                    missing = true;
                    break;
                }
                return Err(error).with_context(|| format!("granting {} its reads", grant.role));
            }
        }
        if missing {
            transaction.rollback().await.ok();
            tracing::warn!(
                role = %grant.role,
                "the server has no role for this reader; it is granted nothing"
            );
            continue;
        }
        transaction
            .commit()
            .await
            .with_context(|| format!("granting {} its reads", grant.role))?;
        tracing::info!(role = %grant.role, "reader granted exactly its tables");
    }
    Ok(())
}
