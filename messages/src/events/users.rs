//! Requests about users of the locker app, from locker-app to user-service.
//!
//! These are requests, not facts: user-service decides what becomes of each and records the
//! outcome under the request id.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::topology::{self, Exchange};

macro_rules! user_request {
    ($(#[$meta:meta])* $name:ident, $type:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub request_id: Uuid,
            pub name: String,
        }

        impl Event for $name {
            const TYPE: &'static str = $type;
            const SCHEMA_VERSION: u16 = 1;
            const EXCHANGE: Exchange = topology::USERS;
        }
    };
}

user_request!(
    /// Someone asked to register a user name.
    RegistrationRequested,
    "user.registration-requested"
);
user_request!(
    /// Someone asked to delete a user (whose locker, if any, is released first).
    DeletionRequested,
    "user.deletion-requested"
);
user_request!(
    /// Someone asked for a locker for a user.
    LockerWanted,
    "user.locker-wanted"
);
user_request!(
    /// Someone asked to release the user's locker.
    ReleaseWanted,
    "user.release-wanted"
);

/// The longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Checks a user name: 1 to 32 characters, letters, digits, spaces and `. - _ ' $`, with no
/// space at either end. Every service checks it again, so a bad name never reaches a store.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a user name is required".into());
    }
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(format!(
            "a user name has at most {MAX_NAME_CHARS} characters (this one has {length})"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_for_length_and_characters() {
        for good in [
            "ada",
            "Ada Lovelace",
            "o'brien",
            "$where",
            "$ne",
            "zoë",
            "x",
        ] {
            assert_eq!(validate_name(good), Ok(()), "{good:?}");
        }
        let long = "a".repeat(MAX_NAME_CHARS + 1);
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
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
