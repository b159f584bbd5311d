//! What every Warren binary shares and nothing more: loading typed settings (the shared
//! defaults beneath each service's own), initialising telemetry, the common start of a service
//! (`run`, `Startup`: metrics, the broker connection, database clients), the operational HTTP
//! endpoints (`/healthz`, `/readyz`, `/metrics`), waiting for a shutdown signal, and the
//! web-form plumbing of the frontends (sessions, CSRF, attempt ids, form checks, error pages,
//! the filters every site is built of), and password hashing (`passwords`: Argon2id).
//!
//! It reaches the broker only through `warren-messages`: it opens a service's `Broker`, checks
//! it for readiness, closes it on shutdown, and builds the consumer a service asks for on the
//! queue the service names. It knows no event type, queue name or wire format, and holds no
//! business logic of any service.

pub mod api;
pub mod application;
pub mod configuration;
pub mod http;
pub mod http_metrics;
pub mod limits;
pub mod mongo;
pub mod ops;
pub mod passwords;
pub mod postgres;
pub mod request_id;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod web;
pub use application::{Application, Stopping};
pub use configuration::Settings;
pub use startup::{Startup, run};
