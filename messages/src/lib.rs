//! Everything Warren puts on the wire, and Warren's one adapter to RabbitMQ.
//!
//! It owns the event types and their envelope, the validated values they carry
//! (`events::names`: a user name, a locker code, a location), the topology (exchanges, quorum
//! queues, dead-letter and retry paths, as typed constants), the connection supervisor that
//! rotates across cluster nodes, the confirming publisher, the consumer runner with manual acks
//! after commit, and the PostgreSQL helper that makes every projection apply an event once.
//!
//! lapin stays inside `connection`, `publisher` and `consumer`: the public API speaks Warren's
//! own types (`MessageProperties`, `PublishError`, `BrokerError`), so services never call lapin
//! and never spell an exchange or queue name. The only rules here are what a valid value on the
//! wire looks like; what an event *means* is decided by the service that consumes it.

pub mod connection;
pub mod consumer;
pub mod envelope;
pub mod events;
pub mod exactly_once;
pub mod journey;
pub mod properties;
pub mod publisher;
pub mod sabotage;
mod sender;
pub mod settings;
pub mod topology;

pub use connection::{Broker, BrokerError};
pub use consumer::{Consumer, ConsumerSettings, Decode, Handler, Outcome};
pub use envelope::{Envelope, Event};
pub use properties::MessageProperties;
pub use publisher::{PublishError, Publisher};
pub use settings::BrokerSettings;
