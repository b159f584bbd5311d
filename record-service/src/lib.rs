//! The weather recorder: looks up a city's weather, publishes record events and projects them into PostgreSQL.

pub mod configuration;
pub mod startup;
