//! The words the `requests` table stores, as enums; the validated names and codes are the
//! wire's ([`warren_messages::events::names`]); a user's role is the read model's
//! ([`warren_store_users::read::Role`]).

pub use warren_messages::events::names::{LockerCode, UserName};
use warren_messages::stored_as;
pub use warren_store_users::read::Role;

/// A password's Argon2id hash as locker-app made it (a PHC string), stored as it came. Its
/// `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Accepts only an Argon2id PHC string: anything else (a password sent by mistake among
    /// them) is refused rather than stored.
    pub fn parse(phc: impl Into<String>) -> Result<Self, String> {
        let phc = phc.into();
        if warren_service_kit::passwords::is_argon2id(&phc) {
            Ok(Self(phc))
        } else {
            Err("the password hash is not an Argon2id PHC string".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PasswordHash([redacted])")
    }
}

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
    /// An operator made a member an operator.
    Promote,
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
    Promoted,
    AlreadyOperator,
}

stored_as!(RequestKind {
    Register => "register",
    Delete => "delete",
    Want => "request",
    Release => "release",
    Compensation => "compensation",
    Promote => "promote",
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
    Promoted => "promoted",
    AlreadyOperator => "already-operator",
});
