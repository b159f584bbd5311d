//! The connection supervisor: one AMQP connection per service, to any live node.
//!
//! `Broker::connection` hands out the current connection while it is open and otherwise
//! connects to the next node that answers, so that publishers and consumers heal by simply
//! asking again after an error. Only one reconnect runs at a time.
//!
//! An `amqps://` node is reached over TLS (rustls, with aws-lc-rs). Its certificate must chain
//! to the system's roots or to a CA in `broker.ca_file`, which is added to them, and name the
//! node's host.

use std::sync::Arc;

use lapin::tcp::OwnedTLSConfig;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use crate::settings::BrokerSettings;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker setting {0} is invalid: {1}")]
    Settings(&'static str, String),
    #[error("no broker node is reachable (tried {tried}); last error: {last}")]
    Unavailable { tried: usize, last: String },
    #[error("broker operation failed: {0}")]
    Amqp(String),
}

impl BrokerError {
    /// The broker client's error, in words: its type stays inside this crate.
    pub(crate) fn amqp(error: lapin::Error) -> Self {
        Self::Amqp(error.to_string())
    }
}

struct State {
    connection: Option<Arc<Connection>>,
    /// Index of the node to try first on the next connect.
    next_node: usize,
    connected_node: Option<String>,
}

/// A service's handle on the broker cluster. Cheap to share behind an `Arc`.
pub struct Broker {
    settings: BrokerSettings,
    uris: Vec<(String, AMQPUri)>,
    tls: OwnedTLSConfig,
    connection_name: String,
    state: Mutex<State>,
}

impl Broker {
    /// Validates the settings; does not connect yet.
    pub fn new(settings: BrokerSettings, connection_name: &str) -> Result<Self, BrokerError> {
        if settings.nodes.is_empty() {
            return Err(BrokerError::Settings(
                "broker.nodes",
                "no node is listed".into(),
            ));
        }
        if settings.password.expose_secret().is_empty() {
            return Err(BrokerError::Settings(
                "broker.password",
                "it is empty; set WARREN_BROKER__PASSWORD".into(),
            ));
        }
        let uris = settings
            .nodes
            .iter()
            .map(|node| Ok((node.clone(), node_uri(&settings, node)?)))
            .collect::<Result<Vec<_>, BrokerError>>()?;
        let tls = tls_config(&settings)?;
        // Spread services across the nodes instead of piling every client onto the first.
        let first = std::process::id() as usize % uris.len();
        Ok(Self {
            settings,
            uris,
            tls,
            connection_name: connection_name.to_owned(),
            state: Mutex::new(State {
                connection: None,
                next_node: first,
                connected_node: None,
            }),
        })
    }

    pub fn settings(&self) -> &BrokerSettings {
        &self.settings
    }

    /// The open connection, or a new one to the first node that answers.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>, BrokerError> {
        let mut state = self.state.lock().await;
        if let Some(connection) = &state.connection {
            if connection.status().connected() {
                return Ok(connection.clone());
            }
            tracing::warn!(node = ?state.connected_node, "broker connection lost; reconnecting");
            state.connection = None;
            state.connected_node = None;
        }
        let mut last = String::from("none tried");
        for attempt in 0..self.uris.len() {
            let index = (state.next_node + attempt) % self.uris.len();
            let (node, uri) = &self.uris[index];
            let properties = ConnectionProperties::default()
                .with_connection_name(self.connection_name.clone().into());
            let runtime = lapin::runtime::default_runtime().map_err(BrokerError::amqp)?;
            let connect = Connection::connect_uri_with_config(
                uri.clone(),
                properties,
                self.tls.clone(),
                runtime,
            );
            match tokio::time::timeout(self.settings.connect_timeout(), connect).await {
                Ok(Ok(connection)) => {
                    tracing::info!(node = %node, "connected to the broker");
                    let connection = Arc::new(connection);
                    state.connection = Some(connection.clone());
                    state.connected_node = Some(node.clone());
                    // Next time this connection fails, start with the following node.
                    state.next_node = (index + 1) % self.uris.len();
                    return Ok(connection);
                }
                Ok(Err(error)) => {
                    tracing::warn!(node = %node, %error, "broker node refused the connection");
                    last = format!("{node}: {error}");
                }
                Err(_) => {
                    tracing::warn!(node = %node, "broker node did not answer in time");
                    last = format!(
                        "{node}: no answer within {:?}",
                        self.settings.connect_timeout()
                    );
                }
            }
        }
        state.next_node = (state.next_node + 1) % self.uris.len();
        Err(BrokerError::Unavailable {
            tried: self.uris.len(),
            last,
        })
    }

    /// A new channel on the current connection.
    pub(crate) async fn channel(&self) -> Result<Channel, BrokerError> {
        let connection = self.connection().await?;
        // A node that accepted the connection but no longer answers must not hold the caller:
        // opening a channel is bounded like connecting.
        match tokio::time::timeout(self.settings.connect_timeout(), connection.create_channel())
            .await
        {
            Ok(channel) => channel.map_err(BrokerError::amqp),
            Err(_) => Err(BrokerError::Amqp(format!(
                "the broker did not open a channel within {:?}",
                self.settings.connect_timeout()
            ))),
        }
    }

    /// The node this service is connected to, if any (for logs and tests).
    pub async fn connected_node(&self) -> Option<String> {
        let state = self.state.lock().await;
        state
            .connection
            .as_ref()
            .filter(|connection| connection.status().connected())
            .and(state.connected_node.clone())
    }

    /// Readiness: succeeds while a connection is open or can be opened.
    pub async fn ping(&self) -> Result<(), BrokerError> {
        self.connection().await.map(|_| ())
    }

    /// Closes the connection (on shutdown); consumers' unacked deliveries return to their queue.
    /// Bounded: a broker that does not answer the close (or a reconnect that holds the
    /// connection) cannot keep the service from stopping; the dropped socket has the same
    /// effect on the broker's side.
    pub async fn close(&self) {
        let within = self.settings.connect_timeout();
        let close = async {
            let mut state = self.state.lock().await;
            if let Some(connection) = state.connection.take()
                && let Err(error) = connection.close(200, "service stopping".into()).await
            {
                tracing::debug!(%error, "closing the broker connection");
            }
        };
        if tokio::time::timeout(within, close).await.is_err() {
            tracing::warn!(
                ?within,
                "the broker did not answer the close in time; dropping the connection"
            );
        }
    }
}

fn node_uri(settings: &BrokerSettings, node: &str) -> Result<AMQPUri, BrokerError> {
    let mut uri: AMQPUri = node
        .parse()
        .map_err(|error| BrokerError::Settings("broker.nodes", format!("{node}: {error}")))?;
    uri.authority.userinfo.username = settings.username.clone();
    uri.authority.userinfo.password = settings.password.expose_secret().to_owned();
    uri.vhost = settings.vhost.clone();
    uri.query.heartbeat = Some(settings.heartbeat_secs);
    uri.query.connection_timeout = Some(settings.connect_timeout_ms);
    Ok(uri)
}

/// The CA certificates of `broker.ca_file` for lapin's TLS connector, which trusts them beside
/// the system's roots. A file that holds no certificate is refused rather than read as "no CA",
/// which would leave only the system's roots and fail later at every connect.
fn tls_config(settings: &BrokerSettings) -> Result<OwnedTLSConfig, BrokerError> {
    let Some(path) = settings.ca_file() else {
        return Ok(OwnedTLSConfig::default());
    };
    let invalid = |reason: String| {
        BrokerError::Settings("broker.ca_file", format!("{}: {reason}", path.display()))
    };
    let pem = std::fs::read_to_string(path).map_err(|error| invalid(error.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(error.to_string()))?;
    if certificates.is_empty() {
        return Err(invalid("no PEM certificate in it".into()));
    }
    Ok(OwnedTLSConfig {
        identity: None,
        cert_chain: Some(pem),
    })
}
