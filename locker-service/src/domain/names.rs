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
}

stored_as!(RequestKind {
    Add => "add",
    Request => "request",
    Release => "release",
});

stored_as!(Answer {
    Added => "added",
    CodeTaken => "code-taken",
    Assigned => "assigned",
    NoneFree => "none-free",
    AlreadyHolds => "already-holds",
    Released => "released",
    HoldsNone => "holds-none",
});
