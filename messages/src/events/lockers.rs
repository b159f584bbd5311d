//! Lockers: requests to locker-service and the outcomes it publishes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::topology::{self, Exchange};

macro_rules! locker_event {
    ($name:ident, $type:literal) => {
        impl Event for $name {
            const TYPE: &'static str = $type;
            const SCHEMA_VERSION: u16 = 1;
            const EXCHANGE: Exchange = topology::LOCKERS;
        }
    };
}

/// Someone asked to add a locker (from locker-app).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerAddRequested {
    pub request_id: Uuid,
    pub code: String,
    pub location: String,
}
locker_event!(LockerAddRequested, "locker.add-requested");

/// An existing user without a locker wants one (from user-service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerRequested {
    pub request_id: Uuid,
    pub user: String,
}
locker_event!(LockerRequested, "locker.requested");

/// Outcome: `code` is now held by `user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerAssigned {
    pub request_id: Uuid,
    pub user: String,
    pub code: String,
}
locker_event!(LockerAssigned, "locker.assigned");

/// Why a request got no locker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unavailability {
    /// Every locker is held.
    NoneFree,
    /// The user already holds a locker (`held` names it).
    AlreadyHolds,
}

impl Unavailability {
    /// The reason as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoneFree => "none-free",
            Self::AlreadyHolds => "already-holds",
        }
    }
}

/// Outcome: the request got no locker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerUnavailable {
    pub request_id: Uuid,
    pub user: String,
    pub reason: Unavailability,
    /// The locker the user already holds, when that is the reason.
    #[serde(default)]
    pub held: Option<String>,
}
locker_event!(LockerUnavailable, "locker.unavailable");

/// The user's locker is to be released (from user-service: a release or a user's deletion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerReleaseRequested {
    pub request_id: Uuid,
    pub user: String,
}
locker_event!(LockerReleaseRequested, "locker.release-requested");

/// Outcome: the user holds no locker now; `code` is the one freed, None if they held none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerReleased {
    pub request_id: Uuid,
    pub user: String,
    pub code: Option<String>,
}
locker_event!(LockerReleased, "locker.released");

/// The longest locker code and location, in characters.
pub const MAX_CODE_CHARS: usize = 12;
pub const MAX_LOCATION_CHARS: usize = 64;

/// Checks a locker code: 1 to 12 characters, upper-case letters, digits and `-`.
pub fn validate_code(code: &str) -> Result<(), String> {
    if code.is_empty() {
        return Err("a locker code is required".into());
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(format!(
            "a locker code has at most {MAX_CODE_CHARS} characters"
        ));
    }
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

/// Checks a locker's location: 1 to 64 characters, no control characters, no space at either
/// end.
pub fn validate_location(location: &str) -> Result<(), String> {
    if location.is_empty() {
        return Err("a location is required".into());
    }
    if location.chars().count() > MAX_LOCATION_CHARS {
        return Err(format!(
            "a location has at most {MAX_LOCATION_CHARS} characters"
        ));
    }
    if location.chars().any(char::is_control) {
        return Err("a location cannot hold control characters".into());
    }
    if location.trim() != location {
        return Err("a location cannot start or end with a space".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_locations_are_checked() {
        assert_eq!(validate_code("A-01"), Ok(()));
        for bad in ["", "a-01", "A 01", "$ne", "ABCDEFGHIJKLM"] {
            assert!(validate_code(bad).is_err(), "{bad:?}");
        }
        assert_eq!(validate_location("Hall B, 2nd floor"), Ok(()));
        for bad in ["", " x", "a\tb", &"x".repeat(65)] {
            assert!(validate_location(bad).is_err(), "{bad:?}");
        }
    }
}
