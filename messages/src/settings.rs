//! How a service reaches the broker.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    /// Every node of the cluster as `amqp://host:port`; the supervisor rotates across them.
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
}

impl BrokerSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.confirm_timeout_ms)
    }
}
