//! Warren's event types, one module per domain. Payloads hold only validated, plain data.

/// Implements [`Event`](crate::Event) for `$name`: its type on the wire (also its routing key),
/// schema version 1, and the topology exchange it is published to.
macro_rules! event {
    ($name:ident, $type:literal, $exchange:ident) => {
        impl $crate::envelope::Event for $name {
            const TYPE: &'static str = $type;
            const SCHEMA_VERSION: u16 = 1;
            const EXCHANGE: $crate::topology::Exchange = $crate::topology::$exchange;
        }
    };
}

/// A request that names one user: its request id and the user, under the field name given.
macro_rules! user_request {
    ($(#[$meta:meta])* $name:ident { $field:ident }, $type:literal, $exchange:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            pub request_id: uuid::Uuid,
            pub $field: String,
        }

        event!($name, $type, $exchange);
    };
}

pub mod lockers;
pub mod names;
pub mod records;
pub mod users;
pub mod votes;
