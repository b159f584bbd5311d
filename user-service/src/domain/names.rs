//! The words the `requests` table stores, as enums; the validated names and codes are the
//! wire's ([`warren_messages::events::names`]).

pub use warren_messages::events::names::{LockerCode, UserName};
use warren_messages::stored_as;

/// What was asked, as the `requests` table records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    Register,
    Delete,
    /// A locker wanted (recorded as `request`).
    Want,
    Release,
    /// A release user-service asks for itself: a locker assigned to a user who is gone or going.
    Compensation,
}

/// How a request was answered, as the `requests` table records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    Registered,
    NameTaken,
    NoSuchUser,
    AlreadyHolds,
    HoldsNone,
    Assigned,
    NoneFree,
    Released,
    Deleted,
}

stored_as!(RequestKind {
    Register => "register",
    Delete => "delete",
    Want => "request",
    Release => "release",
    Compensation => "compensation",
});

stored_as!(Answer {
    Registered => "registered",
    NameTaken => "name-taken",
    NoSuchUser => "no-such-user",
    AlreadyHolds => "already-holds",
    HoldsNone => "holds-none",
    Assigned => "assigned",
    NoneFree => "none-free",
    Released => "released",
    Deleted => "deleted",
});
