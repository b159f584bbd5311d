//! Following one event across services in their logs.
//!
//! Every message carries three ids in its AMQP properties: its `message_id`, the
//! `correlation_id` of the user's action it belongs to (the first message's id; every event
//! caused by it keeps it) and, for an event caused by another, the `causation_id` header (the
//! cause's message id). The publisher logs each message it sends and each confirm with them;
//! the consumer runner handles each delivery inside a `message` span made of them, so every line
//! written while handling it carries them, and logs when it received and when it applied it.
//!
//! Those lines have a `stage` field, which `scripts/trace` reads to print a journey in order:
//! `publish`, `confirm`, `consume`, `commit`, `dead-letter`, `retry`; the frontends add
//! `request` (a request answered, see `service_kit::request_id`) and `read` (an outcome read
//! from a read model).

use lapin::BasicProperties;
use lapin::types::{AMQPValue, ShortString};
use tracing::Span;
use tracing::field::Empty;

/// The header that carries the causation id (see `properties::MessageProperties::of`).
pub const CAUSATION_HEADER: &str = "causation_id";

/// The ids of one message, as its AMQP properties give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub event_type: Option<String>,
}

impl Ids {
    pub fn of(properties: &BasicProperties) -> Self {
        let text = |value: &Option<ShortString>| value.as_ref().map(|v| v.as_str().to_owned());
        let causation_id = header_text(properties, CAUSATION_HEADER).map(str::to_owned);
        Self {
            message_id: text(properties.message_id()),
            correlation_id: text(properties.correlation_id()),
            causation_id,
            event_type: text(properties.kind()),
        }
    }

    /// The span a consumed message is handled in: `message{queue, message_id, correlation_id,
    /// causation_id, type}`; an id the message lacks is left out.
    pub fn span(&self, queue: &'static str) -> Span {
        let span = tracing::info_span!(
            "message",
            queue,
            message_id = Empty,
            correlation_id = Empty,
            causation_id = Empty,
            r#type = Empty,
        );
        self.record(&span);
        span
    }

    fn record(&self, span: &Span) {
        let fields = [
            ("message_id", &self.message_id),
            ("correlation_id", &self.correlation_id),
            ("causation_id", &self.causation_id),
            ("type", &self.event_type),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                span.record(name, value.as_str());
            }
        }
    }
}

/// The text of header `name`, long or short string.
pub(crate) fn header_text<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a str> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(text) => std::str::from_utf8(text.as_bytes()).ok(),
        AMQPValue::ShortString(text) => Some(text.as_str()),
        _ => None,
    }
}

/// The span a batch of more than one message is handled in (one transaction): the ids of all of
/// them, comma-separated, so that a line the handler writes about the batch is found by any.
pub fn batch_span(queue: &'static str, batch: &[&Ids]) -> Span {
    let join = |pick: fn(&Ids) -> &Option<String>| {
        batch
            .iter()
            .filter_map(|ids| pick(ids).as_deref())
            .collect::<Vec<_>>()
            .join(",")
    };
    tracing::info_span!(
        "batch",
        queue,
        size = batch.len(),
        message_ids = join(|ids| &ids.message_id),
        correlation_ids = join(|ids| &ids.correlation_id),
        causation_ids = join(|ids| &ids.causation_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::FieldTable;

    #[test]
    fn the_ids_are_read_from_the_properties_and_the_causation_header() {
        let mut headers = FieldTable::default();
        headers.insert(
            CAUSATION_HEADER.into(),
            AMQPValue::LongString("cause".into()),
        );
        let properties = BasicProperties::default()
            .with_message_id("m".into())
            .with_correlation_id("c".into())
            .with_type("vote.cast".into())
            .with_headers(headers);
        assert_eq!(
            Ids::of(&properties),
            Ids {
                message_id: Some("m".into()),
                correlation_id: Some("c".into()),
                causation_id: Some("cause".into()),
                event_type: Some("vote.cast".into()),
            }
        );
        assert_eq!(Ids::of(&BasicProperties::default()), Ids::default());
    }
}
