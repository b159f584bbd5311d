//! Owns the lockers in MongoDB and allocates them with one atomic conditional update per request.

pub mod configuration;
pub mod startup;
