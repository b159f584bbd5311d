//! What a message carries beside its body, in Warren's own terms. The publisher turns these
//! into AMQP properties, so that no caller of this crate needs the broker client's types.

use std::collections::BTreeMap;

use crate::envelope::Envelope;

/// A header value of the kinds Warren writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    Text(String),
    Number(u32),
}

/// The properties of a message to publish. Unset fields are left out on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    /// Returns are matched to their publishes by it: a message without one is given one.
    pub message_id: Option<String>,
    /// The event type (AMQP `type`).
    pub event_type: Option<String>,
    pub content_type: Option<String>,
    /// Seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    /// The producing service (AMQP `app_id`).
    pub producer: Option<String>,
    pub correlation_id: Option<String>,
    pub headers: BTreeMap<String, Header>,
    /// Written to disk by the broker (delivery mode 2).
    pub persistent: bool,
}

impl MessageProperties {
    /// A persistent message with nothing else set.
    pub fn persistent() -> Self {
        Self {
            persistent: true,
            ..Self::default()
        }
    }

    /// The properties mirroring `envelope`: persistent JSON with its id, type, time, producer
    /// and correlation id, and its schema version and causation id as headers.
    pub fn of<E>(envelope: &Envelope<E>) -> Self {
        let mut headers = BTreeMap::from([(
            "schema_version".to_owned(),
            Header::Number(u32::from(envelope.schema_version)),
        )]);
        if let Some(causation_id) = envelope.causation_id {
            headers.insert(
                crate::journey::CAUSATION_HEADER.to_owned(),
                Header::Text(causation_id.to_string()),
            );
        }
        Self {
            message_id: Some(envelope.message_id.to_string()),
            event_type: Some(envelope.event_type.clone()),
            content_type: Some("application/json".to_owned()),
            timestamp: Some(envelope.occurred_at.timestamp().max(0) as u64),
            producer: Some(envelope.producer.clone()),
            correlation_id: Some(envelope.correlation_id.to_string()),
            headers,
            persistent: true,
        }
    }
}
