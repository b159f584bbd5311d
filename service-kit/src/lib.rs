//! What every Warren binary shares and nothing more: loading typed settings, initialising
//! telemetry, the operational HTTP endpoints (`/healthz`, `/readyz`, `/metrics`), waiting for a
//! shutdown signal, building PostgreSQL and MongoDB clients from settings, and the web-form
//! plumbing of the frontends (sessions, CSRF, attempt ids, form checks, error pages, the
//! filters every site is built of).
//!
//! It reaches the broker only through `warren-messages`: a service's `Broker` is its
//! readiness check and is closed on shutdown. It knows no event type, queue name or wire
//! format, and holds no business logic of any service.

pub mod application;
pub mod configuration;
pub mod http;
pub mod mongo;
pub mod ops;
pub mod postgres;
pub mod shutdown;
pub mod telemetry;
pub mod web;
pub use application::{Application, Stopping};
