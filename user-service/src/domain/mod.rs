//! user-service's decisions, apart from its storage: validated names and codes
//! ([`UserName`], [`LockerCode`]), the request kinds and answers as the `requests` table
//! records them, and [`decide`], which takes a command and the state it needs as plain values
//! and returns the verdict, the writes and the events for locker-service. No I/O here; the
//! consumer (`consumers::users`) reads the state and applies the decision through `storage`.

mod decide;
mod input;
mod names;
#[cfg(test)]
mod tests;

pub use decide::{Decision, Forward, Verdict, Write, compensation_for, decide};
pub use input::{Command, Request, State, Unavailable, User};
pub use names::{Answer, LockerCode, RequestKind, UserName};
