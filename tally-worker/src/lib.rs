//! Projects vote events into the PostgreSQL tally, each vote applied once, the latest by its own time winning.

pub mod configuration;
pub mod startup;
