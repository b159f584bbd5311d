//! Publishing with publisher confirms: `publish(..).await` is `Ok` only when the broker
//! acknowledged the message and did not return it as unroutable.
//!
//! One confirm-mode channel is shared by every concurrent caller, so many messages are in
//! flight at once. If the channel or its connection is gone, the publisher reconnects (to any
//! live node) and tries again until the confirm timeout; once a message may have reached the
//! broker it is never resent here: a confirm that does not arrive in time is
//! [`PublishError::Unknown`], and the caller may retry with the same envelope (same
//! `message_id`), which consumers apply only once.

use std::sync::Arc;
use std::time::Duration;

mod confirms;

use lapin::BasicProperties;
use lapin::options::ConfirmSelectOptions;
use lapin::protocol::basic::AMQPProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use metrics::{Counter, Histogram};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::connection::Broker;
use crate::envelope::{Envelope, Event};
use crate::journey::Ids;
use crate::properties::{Header, MessageProperties};
use crate::topology::EXCHANGES;
use confirms::{Lane, Settled};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Certainly not published: no broker node could take it in time.
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    /// Confirmed, but no queue is bound for its routing key.
    #[error("no queue is bound for {exchange}/{routing_key}: the message was returned")]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
    /// The broker refused it (for example a queue at its limit).
    #[error("the broker refused the message (nack)")]
    Nacked,
    /// Certainly not published: the broker refused this publish and closed the channel, for
    /// example a routing key this broker user may not write (ACCESS_REFUSED). The reason is the
    /// broker's. The next publish goes out on a new channel.
    #[error("the broker refused to take the message: {0}")]
    Refused(String),
    /// It may or may not have been stored. Retrying with the same `message_id` is safe.
    #[error("no confirm within {0:?}: the outcome is unknown")]
    Unknown(Duration),
    #[error("cannot encode the message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl PublishError {
    /// True when the message may have been stored despite the error.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Unknown(_))
    }
}

/// A raw message: a body with its properties, for [`Publisher::publish_raw`].
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// Always one of the topology's exchanges.
    pub exchange: &'static str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub properties: MessageProperties,
}

/// A message as the broker client takes it: what [`Publisher::publish`] sends for an envelope,
/// an [`Outgoing`], or a copy of a delivery with all its properties (the consumer's forwards).
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub(crate) exchange: &'static str,
    pub(crate) routing_key: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) properties: BasicProperties,
}

pub struct Publisher {
    broker: Arc<Broker>,
    counters: Counters,
    /// The open lane: read on every publish, so a plain lock never held across an await.
    current: std::sync::Mutex<Option<Arc<Lane>>>,
    /// Serialises opening a new channel.
    opening: Mutex<()>,
}

impl Publisher {
    pub fn new(broker: Arc<Broker>) -> Self {
        // The deadline a confirm is measured against (alert rules compare the p99 with it).
        metrics::gauge!("warren_publish_confirm_timeout_seconds")
            .set(broker.settings().confirm_timeout().as_secs_f64());
        Self {
            broker,
            counters: Counters::new(),
            current: std::sync::Mutex::new(None),
            opening: Mutex::new(()),
        }
    }

    /// Publishes `envelope` to its event's exchange with its type as the routing key.
    pub async fn publish<E: Event>(&self, envelope: &Envelope<E>) -> Result<(), PublishError> {
        let body = serde_json::to_vec(envelope)?;
        self.send(Prepared {
            exchange: E::EXCHANGE.name,
            routing_key: E::TYPE,
            body: &body,
            properties: amqp_properties(MessageProperties::of(envelope)),
        })
        .await
    }

    /// Publishes a raw message (mandatory, confirmed). A message without a `message_id` is
    /// given one: returns are matched to their publishes by it.
    pub async fn publish_raw(&self, message: Outgoing<'_>) -> Result<(), PublishError> {
        self.send(Prepared {
            exchange: message.exchange,
            routing_key: message.routing_key,
            body: message.body,
            properties: amqp_properties(message.properties),
        })
        .await
    }

    /// Publishes a message whose AMQP properties are ready (mandatory, confirmed), as this
    /// connection's broker user: its `user_id` is set to that user, which the broker checks, so
    /// that consumers know who sent it.
    pub(crate) async fn send(&self, mut message: Prepared<'_>) -> Result<(), PublishError> {
        let user = ShortString::from(self.broker.settings().username.clone());
        message.properties = message.properties.with_user_id(user);
        let timeout = self.broker.settings().confirm_timeout();
        let deadline = Instant::now() + timeout;
        let counters = self.counters.get(message.exchange);
        counters.published.increment(1);
        let ids = Ids::of(&message.properties);
        let (exchange, routing_key) = (message.exchange, message.routing_key);
        // One line as it goes out and one with its confirm, with the message's ids (`journey`).
        macro_rules! journey_line {
            ($level:expr, $stage:literal, $($rest:tt)*) => {
                tracing::event!(
                    $level,
                    stage = $stage,
                    message_id = ids.message_id.as_deref(),
                    correlation_id = ids.correlation_id.as_deref(),
                    causation_id = ids.causation_id.as_deref(),
                    exchange,
                    routing_key,
                    $($rest)*
                )
            };
        }
        journey_line!(tracing::Level::INFO, "publish", "publishing");
        let started = Instant::now();
        let result = self.publish_until(deadline, timeout, &message).await;
        counters.outcome(&result).increment(1);
        let elapsed = started.elapsed();
        match &result {
            Ok(()) => {
                counters.confirmed_after.record(elapsed.as_secs_f64());
                journey_line!(
                    tracing::Level::INFO,
                    "confirm",
                    confirm_ms = elapsed.as_secs_f64() * 1000.0,
                    "confirmed by the broker"
                );
            }
            Err(error) => journey_line!(
                tracing::Level::WARN,
                "confirm",
                %error,
                outcome_unknown = error.outcome_unknown(),
                "not confirmed by the broker"
            ),
        }
        result
    }

    async fn publish_until(
        &self,
        deadline: Instant,
        timeout: Duration,
        message: &Prepared<'_>,
    ) -> Result<(), PublishError> {
        let mut backoff = Duration::from_millis(50);
        loop {
            let lane = match tokio::time::timeout_at(deadline, self.lane()).await {
                Ok(Ok(lane)) => lane,
                Ok(Err(error)) if Instant::now() + backoff < deadline => {
                    tracing::debug!(%error, "no channel to publish on; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
                Ok(Err(error)) => return Err(error),
                Err(_) => {
                    return Err(PublishError::Unavailable(format!(
                        "no channel within {timeout:?}"
                    )));
                }
            };
            // The deadline bounds `basic.publish` too, which waits while the connection is
            // blocked (a memory or disk alarm) or the socket is full. The publish itself goes
            // on in the lane: it may still reach the broker, so the outcome is unknown.
            let settled = match tokio::time::timeout_at(deadline, lane.publish(message)).await {
                Ok(Ok(settled)) => settled,
                Ok(Err(_)) => {
                    tracing::warn!("the channel's confirm task is gone; outcome unknown");
                    self.forget(&lane);
                    return Err(PublishError::Unknown(timeout));
                }
                Err(_) => return Err(PublishError::Unknown(timeout)),
            };
            return match settled {
                Settled::Routed => Ok(()),
                Settled::Returned => Err(PublishError::Unroutable {
                    exchange: message.exchange.to_owned(),
                    routing_key: message.routing_key.to_owned(),
                }),
                Settled::Nacked => {
                    // A quorum queue's channel can stay in a rejecting state after a leader
                    // change; the caller's retry goes out on a fresh channel.
                    self.discard(&lane);
                    Err(PublishError::Nacked)
                }
                Settled::NotSent(error) if !lane.channel().status().connected() => {
                    // The channel was already closed: nothing went out. Start over on a new one.
                    tracing::debug!(%error, "channel closed before publishing; retrying");
                    self.forget(&lane);
                    continue;
                }
                Settled::NotSent(error) => {
                    self.forget(&lane);
                    tracing::warn!(%error, "publish failed mid-way; outcome unknown");
                    Err(PublishError::Unknown(timeout))
                }
                Settled::Unknown(error) => {
                    tracing::warn!(%error, "no confirm for a publish; outcome unknown");
                    self.forget(&lane);
                    Err(PublishError::Unknown(timeout))
                }
                Settled::Lost(error) => {
                    self.forget(&lane);
                    match refusal(&error, message) {
                        Some(reason) => {
                            tracing::error!(
                                reason,
                                exchange = message.exchange,
                                routing_key = message.routing_key,
                                "the broker refused a publish"
                            );
                            Err(PublishError::Refused(reason))
                        }
                        None => {
                            tracing::warn!(%error, "no confirm for a publish; outcome unknown");
                            Err(PublishError::Unknown(timeout))
                        }
                    }
                }
            };
        }
    }

    /// The shared confirm-mode channel, opened (on any live node) when needed.
    async fn lane(&self) -> Result<Arc<Lane>, PublishError> {
        if let Some(lane) = self.open_lane() {
            return Ok(lane);
        }
        let _opening = self.opening.lock().await;
        if let Some(lane) = self.open_lane() {
            return Ok(lane);
        }
        let channel = self
            .broker
            .channel()
            .await
            .map_err(|error| PublishError::Unavailable(error.to_string()))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|error| PublishError::Unavailable(error.to_string()))?;
        let lane = Arc::new(Lane::new(channel));
        *self.slot() = Some(lane.clone());
        Ok(lane)
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Lane>>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn open_lane(&self) -> Option<Arc<Lane>> {
        self.slot()
            .as_ref()
            .filter(|lane| lane.channel().status().connected())
            .cloned()
    }

    /// Forgets `lane` and closes its channel, so that no publisher uses it again.
    fn discard(&self, lane: &Lane) {
        self.forget(lane);
        let channel = lane.channel().clone();
        tokio::spawn(async move {
            if let Err(error) = channel.close(200, "replaced after a nack".into()).await {
                tracing::debug!(%error, "closing a nacking channel");
            }
        });
    }

    /// Forgets `failed` if it is still the current lane. Compared by identity: channel ids
    /// are reused on a new connection, and a late failure on the old channel must not drop
    /// its successor.
    fn forget(&self, failed: &Lane) {
        let mut slot = self.slot();
        if slot
            .as_ref()
            .is_some_and(|current| std::ptr::eq(Arc::as_ptr(current), failed))
        {
            *slot = None;
        }
    }

    /// Readiness: a confirm-mode channel is open or can be opened.
    pub async fn ping(&self) -> Result<(), PublishError> {
        self.lane().await.map(|_| ())
    }
}

/// The publish counters of one exchange, resolved once instead of on every publish.
struct ExchangeCounters {
    published: Counter,
    confirmed: Counter,
    /// Seconds from the publish to its confirm, retries within the deadline included.
    confirmed_after: Histogram,
    returned: Counter,
    nacked: Counter,
    refused: Counter,
    unknown: Counter,
    failed: Counter,
}

impl ExchangeCounters {
    fn new(exchange: &'static str) -> Self {
        let outcome = |outcome: &'static str| {
            metrics::counter!(
                "warren_messages_publish_outcomes_total",
                "exchange" => exchange,
                "outcome" => outcome
            )
        };
        Self {
            published: metrics::counter!("warren_messages_published_total", "exchange" => exchange),
            confirmed: outcome("confirmed"),
            confirmed_after: metrics::histogram!("warren_publish_confirm_seconds", "exchange" => exchange),
            returned: outcome("returned"),
            nacked: outcome("nacked"),
            refused: outcome("refused"),
            unknown: outcome("unknown"),
            failed: outcome("failed"),
        }
    }

    fn outcome(&self, result: &Result<(), PublishError>) -> &Counter {
        match result {
            Ok(()) => &self.confirmed,
            Err(PublishError::Unroutable { .. }) => &self.returned,
            Err(PublishError::Nacked) => &self.nacked,
            Err(PublishError::Refused(_)) => &self.refused,
            Err(PublishError::Unknown(_)) => &self.unknown,
            Err(_) => &self.failed,
        }
    }
}

/// Counters for every exchange of the topology.
struct Counters(Vec<(&'static str, ExchangeCounters)>);

impl Counters {
    fn new() -> Self {
        Self(
            EXCHANGES
                .iter()
                .map(|exchange| (exchange.name, ExchangeCounters::new(exchange.name)))
                .collect(),
        )
    }

    fn get(&self, exchange: &'static str) -> &ExchangeCounters {
        self.0
            .iter()
            .find(|(name, _)| *name == exchange)
            .map(|(_, counters)| counters)
            // Outgoing::exchange is always a topology exchange; the first serves otherwise.
            .unwrap_or(&self.0[0].1)
    }
}

/// The broker's reason when `error` is its refusal of `message` itself: a channel closed with
/// ACCESS_REFUSED for `message`'s exchange (and, on a topic exchange, its routing key).
///
/// Every publish in flight on a channel fails with the error that closed it, and the broker
/// names in it what it refused. A publish to the same exchange with the same routing key would
/// be refused for the same reason (or, sent after the refused one, discarded with the
/// channel), so it certainly did not go out; any other publish on the channel may have, and
/// stays unknown.
fn refusal(error: &lapin::Error, message: &Prepared<'_>) -> Option<String> {
    let lapin::ErrorKind::ProtocolError(amqp) = error.kind() else {
        return None;
    };
    if amqp.get_id() != ACCESS_REFUSED {
        return None;
    }
    let reason = amqp.get_message().as_str();
    let names_exchange = reason.contains(&format!("exchange '{}'", message.exchange));
    let names_key =
        !reason.contains("topic '") || reason.contains(&format!("topic '{}'", message.routing_key));
    (names_exchange && names_key).then(|| amqp.to_string())
}

/// The AMQP reply code of a refused access.
const ACCESS_REFUSED: u16 = 403;

/// The AMQP properties for `properties`.
fn amqp_properties(properties: MessageProperties) -> BasicProperties {
    let MessageProperties {
        message_id,
        event_type,
        content_type,
        timestamp,
        producer,
        correlation_id,
        headers,
        persistent,
    } = properties;
    let mut amqp = AMQPProperties::default();
    if let Some(message_id) = message_id {
        amqp = amqp.with_message_id(ShortString::from(message_id));
    }
    if let Some(event_type) = event_type {
        amqp = amqp.with_type(ShortString::from(event_type));
    }
    if let Some(timestamp) = timestamp {
        amqp = amqp.with_timestamp(timestamp);
    }
    if let Some(content_type) = content_type {
        amqp = amqp.with_content_type(ShortString::from(content_type));
    }
    if persistent {
        amqp = amqp.with_delivery_mode(2);
    }
    if let Some(producer) = producer {
        amqp = amqp.with_app_id(ShortString::from(producer));
    }
    if let Some(correlation_id) = correlation_id {
        amqp = amqp.with_correlation_id(ShortString::from(correlation_id));
    }
    if !headers.is_empty() {
        let mut table = FieldTable::default();
        for (name, value) in headers {
            let value = match value {
                Header::Text(text) => AMQPValue::LongString(text.into()),
                Header::Number(number) => AMQPValue::LongUInt(number),
            };
            table.insert(name.into(), value);
        }
        amqp = amqp.with_headers(table);
    }
    amqp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::BrokerSettings;

    /// Against the test cluster (through testkit, like the integration tests).
    fn broker(vhost: &str) -> Arc<Broker> {
        let settings = BrokerSettings {
            nodes: warren_testkit::amqp_nodes(),
            vhost: vhost.to_owned(),
            username: "vote-service".to_owned(),
            password: SecretString::from(warren_testkit::broker_password("vote-service")),
            heartbeat_secs: 5,
            connect_timeout_ms: 3_000,
            confirm_timeout_ms: 5_000,
            ca_file: None,
        };
        Arc::new(Broker::new(settings, "test-forget").unwrap())
    }

    #[test]
    fn an_envelopes_properties_mirror_it_on_the_wire() {
        use crate::events::votes::VoteCast;

        let cause = Envelope::new(
            "test",
            VoteCast {
                poll: "default".into(),
                voter_id: uuid::Uuid::new_v4(),
                option: "a".into(),
            },
        );
        let envelope = Envelope::caused_by("test", cause.payload.clone(), &cause);
        let amqp = amqp_properties(MessageProperties::of(&envelope));
        let text = |value: Option<&ShortString>| value.map(|value| value.as_str().to_owned());
        assert_eq!(
            text(amqp.message_id().as_ref()),
            Some(envelope.message_id.to_string())
        );
        assert_eq!(text(amqp.kind().as_ref()), Some("vote.cast".to_owned()));
        assert_eq!(
            text(amqp.content_type().as_ref()),
            Some("application/json".to_owned())
        );
        assert_eq!(text(amqp.app_id().as_ref()), Some("test".to_owned()));
        assert_eq!(
            text(amqp.correlation_id().as_ref()),
            Some(cause.message_id.to_string())
        );
        assert_eq!(*amqp.delivery_mode(), Some(2));
        assert_eq!(
            *amqp.timestamp(),
            Some(envelope.occurred_at.timestamp() as u64)
        );
        let headers = amqp.headers().clone().unwrap();
        assert_eq!(
            headers.inner().get("schema_version"),
            Some(&AMQPValue::LongUInt(1))
        );
        assert_eq!(
            headers.inner().get("causation_id"),
            Some(&AMQPValue::LongString(cause.message_id.to_string().into()))
        );

        let bare = amqp_properties(MessageProperties::default());
        assert_eq!(bare, BasicProperties::default());
    }

    #[tokio::test]
    async fn a_late_failure_on_a_dead_channel_keeps_its_successor_that_reuses_its_id() {
        let vhost = warren_testkit::vhost_with(&[]).await;
        let broker = broker(&vhost);
        let publisher = Publisher::new(broker.clone());
        let old = publisher.lane().await.unwrap();
        // A new connection numbers its channels from 1 again.
        broker.close().await;
        let new = publisher.lane().await.unwrap();
        assert!(!Arc::ptr_eq(&old, &new));
        assert_eq!(old.channel().id(), new.channel().id());

        publisher.forget(&old);
        let current = publisher.lane().await.unwrap();
        assert!(
            Arc::ptr_eq(&current, &new),
            "forgetting the dead channel dropped the live one"
        );
    }
}
