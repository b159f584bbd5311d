//! Owns the lockers in MongoDB: adds them, allocates each to at most one user and each user at
//! most one locker, frees them, and publishes every outcome. Exactly once in effect.

pub mod claims;
pub mod configuration;
pub mod consumers;
pub mod domain;
pub mod operations;
pub mod startup;
pub mod store;
