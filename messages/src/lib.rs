//! Everything Warren puts on the wire, and the only crate that speaks to RabbitMQ.
//!
//! It owns the event types and their envelope, the topology (exchanges, quorum queues,
//! dead-letter and retry paths, as typed constants), the connection supervisor that rotates
//! across cluster nodes, the confirming publisher, the consumer runner with manual acks after
//! commit, and the PostgreSQL helper that makes every projection apply an event once.
//!
//! Services never call lapin directly and never spell an exchange or queue name. This crate
//! holds no business rules: what an event *means* is decided by the service that consumes it.

pub mod connection;
pub mod consumer;
pub mod envelope;
pub mod events;
pub mod exactly_once;
pub mod publisher;
pub mod sabotage;
pub mod settings;
pub mod topology;

pub use connection::{Broker, BrokerError};
pub use consumer::{Consumer, ConsumerSettings, Decode, Handler, Outcome};
pub use envelope::{Envelope, Event};
pub use publisher::{PublishError, Publisher};
pub use settings::BrokerSettings;
