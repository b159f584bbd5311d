//! The voting frontend: serves the ballot and the live results, and publishes each vote,
//! answering success only after the broker confirmed it. It reads the tally that tally-worker
//! projects and never writes it.

pub mod clock;
pub mod configuration;
pub mod domain;
pub mod live;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod voter_log;
