//! Validated values of the wire: a user name, a locker code and a location are checked once,
//! where a message or a form enters a service, by their constructors (`parse`), the one place
//! each rule lives; past that they cannot be wrong. Both locker services and locker-app work
//! with these types.

use std::fmt;

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
    /// A user name: 1 to 32 characters, letters, digits, spaces and `. - _ ' $`, with no space
    /// at either end. Every service checks it again, so a bad name never reaches a store.
    UserName,
    check_user_name
);
validated!(
    /// A locker code: 1 to 12 characters, upper-case letters, digits and `-`.
    LockerCode,
    check_locker_code
);
validated!(
    /// A locker's location: 1 to 64 characters, no control characters, no space at either end.
    Location,
    check_location
);

impl UserName {
    /// The longest user name, in characters.
    pub const MAX_CHARS: usize = 32;
}

impl LockerCode {
    /// The longest locker code, in characters.
    pub const MAX_CHARS: usize = 12;
}

impl Location {
    /// The longest location, in characters.
    pub const MAX_CHARS: usize = 64;
}

fn check_user_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a user name is required".into());
    }
    let length = name.chars().count();
    if length > UserName::MAX_CHARS {
        return Err(format!(
            "a user name has at most {} characters (this one has {length})",
            UserName::MAX_CHARS
        ));
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err("a user name cannot start or end with a space".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | '\'' | '$')))
    {
        return Err(format!(
            "a user name may hold letters, digits, spaces and . - _ ' $, not {bad:?}"
        ));
    }
    Ok(())
}

/// `text` is there and at most `max` characters long; `what` names it in the answer.
fn present_within(text: &str, what: &str, max: usize) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("{what} is required"));
    }
    if text.chars().count() > max {
        return Err(format!("{what} has at most {max} characters"));
    }
    Ok(())
}

fn check_locker_code(code: &str) -> Result<(), String> {
    present_within(code, "a locker code", LockerCode::MAX_CHARS)?;
    if let Some(bad) = code
        .chars()
        .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "a locker code may hold A-Z, 0-9 and -, not {bad:?}"
        ));
    }
    Ok(())
}

fn check_location(location: &str) -> Result<(), String> {
    present_within(location, "a location", Location::MAX_CHARS)?;
    if location.chars().any(char::is_control) {
        return Err("a location cannot hold control characters".into());
    }
    if location.trim() != location {
        return Err("a location cannot start or end with a space".into());
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_checked_for_length_and_characters() {
        for good in [
            "ada",
            "Ada Lovelace",
            "o'brien",
            "$where",
            "$ne",
            "zoë",
            "x",
        ] {
            assert_eq!(
                UserName::parse(good).map(String::from),
                Ok(good.to_owned()),
                "{good:?}"
            );
        }
        let long = "a".repeat(UserName::MAX_CHARS + 1);
        for bad in [
            "",
            " ada",
            "ada ",
            "a\u{0}b",
            "line\nbreak",
            "{\"$gt\": \"\"}",
            "a/b",
            long.as_str(),
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn codes_and_locations_are_checked() {
        assert!(LockerCode::parse("A-01").is_ok());
        for bad in ["", "a-01", "A 01", "$ne", "ABCDEFGHIJKLM"] {
            assert!(LockerCode::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Location::parse("Hall B, 2nd floor").is_ok());
        for bad in ["", " x", "a\tb", &"x".repeat(65)] {
            assert!(Location::parse(bad).is_err(), "{bad:?}");
        }
    }
}
