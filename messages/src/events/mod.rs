//! Warren's event types, one module per domain. Payloads hold only validated, plain data.

pub mod lockers;
pub mod names;
pub mod records;
pub mod users;
pub mod votes;
