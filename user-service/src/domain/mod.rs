//! user-service's decisions, apart from its storage: validated names and codes
//! ([`UserName`], [`LockerCode`]), the request kinds and answers as the `requests` table
//! records them, and [`decide`], which takes a command and the state it needs as plain values
//! and returns the verdict, the writes and the events for locker-service. No I/O here:
//! `storage::decide` reads the state in the batch's transaction and writes the decision, and the
//! consumer (`consumers::users`) stages its events in the outbox.

mod decide;
mod input;
mod names;
#[cfg(test)]
mod tests;

pub use decide::{Decision, Forward, Verdict, Write, compensation_for, decide};
pub use input::{Command, Request, State, Unavailable, User};
pub use names::{Answer, LockerCode, PasswordHash, RequestKind, Role, UserName};
