//! The TLS endpoints of the test infrastructure (scripts/lib/infra.sh with `WARREN_TLS=1`): its
//! private CA, a RabbitMQ node's TLS listener, the PostgreSQL server (`ssl=on`) and a
//! MongoDB-compatible server that speaks only TLS; and CAs of another issuer, which each of them
//! must refuse.

use std::path::{Path, PathBuf};

use crate::env;

/// The infrastructure's private CA (PEM), which signed every server certificate.
pub fn ca_file() -> PathBuf {
    env("WARREN_TLS_CA_FILE").into()
}

/// The RabbitMQ node that listens for TLS, as `amqps://host:port`.
pub fn amqps_node() -> String {
    env("WARREN_AMQPS_NODE")
}

/// The MongoDB-compatible server that speaks only TLS, trusting the CA in `ca_file`.
pub fn mongo_tls_uri(ca_file: &Path) -> String {
    format!(
        "{}&tlsCAFile={}",
        env("WARREN_MONGO_TLS_URI"),
        ca_file.display()
    )
}

/// A CA certificate that shares nothing with the infrastructure's own but its subject name,
/// written to a PEM file that is removed on drop.
pub struct OtherCa {
    path: PathBuf,
}

impl OtherCa {
    /// Generates a fresh key pair and a self-signed CA certificate named like the real one.
    pub fn generate() -> Self {
        let key = rcgen::KeyPair::generate().expect("generating a key pair");
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Warren test CA");
        let certificate = params.self_signed(&key).expect("self-signing the other CA");
        let path = std::env::temp_dir().join(format!("{}.pem", crate::unique_name("other-ca")));
        std::fs::write(&path, certificate.pem())
            .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OtherCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
