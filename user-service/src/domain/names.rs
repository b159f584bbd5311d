//! Validated values: a user name and a locker code are checked once, where they enter
//! user-service, with the rules `messages` defines for the wire; past that they cannot be wrong.

use std::fmt;

use warren_messages::events::lockers::validate_code;
use warren_messages::events::users::validate_name;

/// A user name that passed `validate_name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    pub fn parse(name: impl Into<String>) -> Result<Self, String> {
        let name = name.into();
        validate_name(&name)?;
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A locker code that passed `validate_code`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockerCode(String);

impl LockerCode {
    pub fn parse(code: impl Into<String>) -> Result<Self, String> {
        let code = code.into();
        validate_code(&code)?;
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for LockerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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

/// Maps each variant to the text stored for it, both ways.
macro_rules! stored_as {
    ($type:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $type {
            pub const ALL: &'static [$type] = &[$($type::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $text),*
                }
            }

            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($type::$variant),)*
                    other => Err(format!(concat!("no ", stringify!($type), " is stored as {:?}"), other)),
                }
            }
        }
    };
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
