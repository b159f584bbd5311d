//! Owns the users of the locker app in PostgreSQL: registers and deletes them, turns locker
//! requests into events for locker-service, and projects its outcomes into each user's row and
//! each request's status. Exactly once in effect; what it sends goes through an outbox.

pub mod configuration;
pub mod consumers;
pub mod domain;
pub mod operator;
pub mod outbox;
pub mod startup;
pub mod storage;
