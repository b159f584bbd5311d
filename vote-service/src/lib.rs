//! The voting frontend: serves the ballot and the results, publishes each vote and answers only after the broker confirmed it.

pub mod configuration;
pub mod startup;
