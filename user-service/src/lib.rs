//! Owns the users of the locker app in PostgreSQL and turns locker requests into broker events.

pub mod configuration;
pub mod startup;
