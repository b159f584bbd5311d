//! The words `requests` stores, as enums; the validated names and codes are the wire's
//! ([`warren_messages::events::names`]).

pub use warren_messages::events::names::{Location, LockerCode, UserName};
use warren_messages::stored_as;

/// What was asked, as `requests` records it (`kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Add,
    Request,
    Release,
    Retire,
}

/// How a request was answered, as `requests` records it (`outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// The locker was added (by this request).
    Added,
    /// A locker with the code was added by another request.
    CodeTaken,
    /// The user got a locker.
    Assigned,
    /// Every locker is held.
    NoneFree,
    /// The user holds a locker another request gave them.
    AlreadyHolds,
    /// The user's locker was freed.
    Released,
    /// The user held no locker to free.
    HoldsNone,
    /// The code was a locker's that is retired: codes are not reused.
    CodeRetired,
    /// The locker was retired (by this request).
    Retired,
    /// There is no locker with the code to retire.
    NoSuchLocker,
    /// The locker is held, so it was not retired: an operator releases its holder first.
    Held,
    /// The locker was retired by another request.
    AlreadyRetired,
}

stored_as!(RequestKind {
    Add => "add",
    Request => "request",
    Release => "release",
    Retire => "retire",
});

stored_as!(Answer {
    Added => "added",
    CodeTaken => "code-taken",
    Assigned => "assigned",
    NoneFree => "none-free",
    AlreadyHolds => "already-holds",
    Released => "released",
    HoldsNone => "holds-none",
    CodeRetired => "code-retired",
    Retired => "retired",
    NoSuchLocker => "no-such-locker",
    Held => "held",
    AlreadyRetired => "already-retired",
});
