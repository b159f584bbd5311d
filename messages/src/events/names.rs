//! Validated values of the wire: a user name, a locker code and a location are checked once,
//! where a message or a form enters a service, with the rules of [`super::users`] and
//! [`super::lockers`]; past that they cannot be wrong. Both locker services decide over these
//! types.

use std::fmt;

use super::lockers::{validate_code, validate_location};
use super::users::validate_name;

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

/// Maps each variant of a fieldless enum to the text stored for it, both ways: `ALL`,
/// `as_str` and `parse`. The services use it for the words their stores record (request kinds,
/// outcomes), so that a stored word and its enum cannot drift apart.
#[macro_export]
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
