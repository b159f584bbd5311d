//! How a service reaches the broker.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    /// Every node of the cluster as `amqp://host:port` (or `amqps://` for TLS); the supervisor
    /// rotates across them.
    pub nodes: Vec<String>,
    pub vhost: String,
    pub username: String,
    pub password: SecretString,
    /// AMQP heartbeat: a silent or frozen node is noticed within about twice this.
    pub heartbeat_secs: u16,
    /// Bound on opening a connection to one node.
    pub connect_timeout_ms: u64,
    /// Bound on waiting for a publisher confirm; past it the outcome is unknown.
    pub confirm_timeout_ms: u64,
    /// A PEM file of CA certificates that `amqps://` nodes may chain to, trusted besides the
    /// system's roots; unset (or empty): the system's roots only.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl BrokerSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.confirm_timeout_ms)
    }

    /// The CA file, if one is set (an empty value from the environment is none).
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file
            .as_deref()
            .filter(|path| !path.as_os_str().is_empty())
    }
}
