//! Validated values and the words `requests` stores: a user name, a locker code and a location
//! are checked once, where a message enters locker-service, with the rules `messages` defines
//! for the wire; past that they cannot be wrong.

use std::fmt;

use warren_messages::events::lockers::{validate_code, validate_location};
use warren_messages::events::users::validate_name;

macro_rules! validated {
    ($(#[$meta:meta])* $name:ident, $check:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: impl Into<String>) -> Result<Self, String> {
                let text = text.into();
                $check(&text)?;
                Ok(Self(text))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

validated!(
    /// A user name that passed `validate_name`.
    UserName,
    validate_name
);
validated!(
    /// A locker code that passed `validate_code`.
    LockerCode,
    validate_code
);
validated!(
    /// A locker's location that passed `validate_location`.
    Location,
    validate_location
);

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
                    other => Err(format!(
                        concat!("no ", stringify!($type), " is stored as {:?}"),
                        other
                    )),
                }
            }
        }
    };
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
