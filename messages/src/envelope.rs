//! The envelope around every event: identity, type, schema version, time and lineage.
//!
//! The same facts travel in the AMQP properties (`message_id`, `type`, `timestamp`,
//! `content_type`, `app_id`, persistent delivery mode) so that the management console and
//! other tools see them without parsing the body.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::topology::Exchange;

/// An event type on the wire.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The `type` on the wire, e.g. `vote.cast`; also the routing key.
    const TYPE: &'static str;
    /// The schema version this code writes and understands.
    const SCHEMA_VERSION: u16;
    /// The exchange it is published to.
    const EXCHANGE: Exchange;
}

/// Who caused an event: lets a chain of events be followed through the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<E> {
    pub message_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u16,
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: Uuid,
    #[serde(default)]
    pub causation_id: Option<Uuid>,
    pub producer: String,
    pub payload: E,
}

impl<E: Event> Envelope<E> {
    /// A new event that starts its own chain.
    pub fn new(producer: &str, payload: E) -> Self {
        let message_id = Uuid::now_v7();
        Self::with_lineage(
            producer,
            payload,
            Lineage {
                correlation_id: message_id,
                causation_id: None,
            },
            message_id,
        )
    }

    /// A new event caused by `cause` (same correlation id, causation id = the cause).
    pub fn caused_by<C>(producer: &str, payload: E, cause: &Envelope<C>) -> Self {
        Self::with_lineage(
            producer,
            payload,
            Lineage {
                correlation_id: cause.correlation_id,
                causation_id: Some(cause.message_id),
            },
            Uuid::now_v7(),
        )
    }

    fn with_lineage(producer: &str, payload: E, lineage: Lineage, message_id: Uuid) -> Self {
        Self {
            message_id,
            event_type: E::TYPE.to_owned(),
            schema_version: E::SCHEMA_VERSION,
            occurred_at: Utc::now(),
            correlation_id: lineage.correlation_id,
            causation_id: lineage.causation_id,
            producer: producer.to_owned(),
            payload,
        }
    }
}

/// Why a body could not be read as the expected event: always poison, never retried.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("body is not a valid envelope: {0}")]
    Malformed(String),
    #[error("unexpected event type {found:?} (expected {expected:?})")]
    UnexpectedType { expected: String, found: String },
    #[error("unknown schema version {found} of {event_type} (this consumer reads {supported})")]
    UnknownSchemaVersion {
        event_type: String,
        found: u16,
        supported: u16,
    },
}

/// The fields every envelope has, read before the payload is interpreted.
#[derive(Deserialize)]
struct Header {
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u16,
}

/// Reads an envelope of `E`; unknown fields are ignored, an unknown version is an error.
///
/// The body is parsed once when it is what this consumer expects; only a body that is not
/// is looked at again, to say precisely why.
pub fn decode<E: Event>(body: &[u8]) -> Result<Envelope<E>, DecodeError> {
    let parsed = serde_json::from_slice::<Envelope<E>>(body);
    if let Ok(envelope) = &parsed
        && envelope.event_type == E::TYPE
        && envelope.schema_version == E::SCHEMA_VERSION
    {
        return parsed.map_err(|error| DecodeError::Malformed(error.to_string()));
    }
    let header: Header =
        serde_json::from_slice(body).map_err(|error| DecodeError::Malformed(error.to_string()))?;
    if header.event_type != E::TYPE {
        return Err(DecodeError::UnexpectedType {
            expected: E::TYPE.to_owned(),
            found: header.event_type,
        });
    }
    if header.schema_version != E::SCHEMA_VERSION {
        return Err(DecodeError::UnknownSchemaVersion {
            event_type: header.event_type,
            found: header.schema_version,
            supported: E::SCHEMA_VERSION,
        });
    }
    parsed.map_err(|error| DecodeError::Malformed(error.to_string()))
}

/// The `type` of an envelope, read without interpreting its payload.
pub fn event_type(body: &[u8]) -> Result<String, DecodeError> {
    serde_json::from_slice::<Header>(body)
        .map(|header| header.event_type)
        .map_err(|error| DecodeError::Malformed(error.to_string()))
}

/// Declares an enum of envelopes for a queue that carries several event types, and decodes
/// each body into the variant its `type` names; any other type is poison.
///
/// ```
/// warren_messages::one_of! {
///     pub enum Incoming {
///         Wanted(warren_messages::events::users::LockerWanted),
///         Released(warren_messages::events::lockers::LockerReleased),
///     }
/// }
/// ```
#[macro_export]
macro_rules! one_of {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident($event:ty)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis enum $name {
            $($variant($crate::Envelope<$event>)),+
        }

        impl $crate::Decode for $name {
            fn decode(body: &[u8]) -> Result<Self, $crate::envelope::DecodeError> {
                let found = $crate::envelope::event_type(body)?;
                $(
                    if found == <$event as $crate::Event>::TYPE {
                        return $crate::envelope::decode::<$event>(body).map(Self::$variant);
                    }
                )+
                Err($crate::envelope::DecodeError::UnexpectedType {
                    expected: [$(<$event as $crate::Event>::TYPE),+].join(" or "),
                    found,
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::votes::VoteCast;
    use crate::events::votes::tests::vote;

    #[test]
    fn round_trips_through_json() {
        let envelope = Envelope::new("vote-service", vote());
        let body = serde_json::to_vec(&envelope).unwrap();
        assert_eq!(decode::<VoteCast>(&body).unwrap(), envelope);
    }

    #[test]
    fn message_ids_are_time_ordered_uuid_v7() {
        let first = Envelope::new("p", vote());
        let second = Envelope::new("p", vote());
        assert_eq!(first.message_id.get_version_num(), 7);
        assert!(first.message_id < second.message_id);
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let mut value = serde_json::to_value(Envelope::new("p", vote())).unwrap();
        value["added_later"] = serde_json::json!(true);
        value["payload"]["also_new"] = serde_json::json!("x");
        assert!(decode::<VoteCast>(&serde_json::to_vec(&value).unwrap()).is_ok());
    }

    #[test]
    fn an_unknown_schema_version_is_rejected() {
        let mut value = serde_json::to_value(Envelope::new("p", vote())).unwrap();
        value["schema_version"] = serde_json::json!(99);
        let error = decode::<VoteCast>(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(matches!(
            error,
            DecodeError::UnknownSchemaVersion { found: 99, .. }
        ));
    }

    crate::one_of! {
        enum Either {
            Vote(VoteCast),
            Release(crate::events::lockers::LockerReleaseRequested),
        }
    }

    #[test]
    fn one_of_decodes_the_variant_its_type_names_and_nothing_else() {
        use crate::Decode;
        let vote = Envelope::new("p", vote());
        let body = serde_json::to_vec(&vote).unwrap();
        assert!(matches!(Either::decode(&body), Ok(Either::Vote(decoded)) if decoded == vote));
        let release = Envelope::new(
            "p",
            crate::events::lockers::LockerReleaseRequested {
                request_id: Uuid::new_v4(),
                user: "ada".into(),
            },
        );
        let body = serde_json::to_vec(&release).unwrap();
        assert!(
            matches!(Either::decode(&body), Ok(Either::Release(decoded)) if decoded == release)
        );
        let other = Envelope::new(
            "p",
            crate::events::users::LockerWanted {
                request_id: Uuid::new_v4(),
                name: "ada".into(),
                actor: None,
            },
        );
        let error = Either::decode(&serde_json::to_vec(&other).unwrap()).unwrap_err();
        assert!(
            matches!(&error, DecodeError::UnexpectedType { found, .. } if found == "user.locker-wanted"),
            "{error}"
        );
    }

    #[test]
    fn malformed_json_is_rejected() {
        assert!(matches!(
            decode::<VoteCast>(b"{not json"),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn a_caused_event_keeps_the_correlation_id() {
        let cause = Envelope::new("a", vote());
        let effect = Envelope::caused_by("b", vote(), &cause);
        assert_eq!(effect.correlation_id, cause.correlation_id);
        assert_eq!(effect.causation_id, Some(cause.message_id));
    }
}
