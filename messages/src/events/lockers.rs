//! Lockers: requests to locker-service and the outcomes it publishes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Someone asked to add a locker (from locker-app).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerAddRequested {
    pub request_id: Uuid,
    pub code: String,
    pub location: String,
    /// The signed-in account that asked (an operator); absent in requests from before
    /// accounts.
    #[serde(default)]
    pub actor: Option<String>,
}
event!(LockerAddRequested, "locker.add-requested", LOCKERS);

/// An operator asked to retire a locker (from locker-app): it is taken out of service for good
/// unless it is held (an operator releases its holder first; a held locker is never retired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerRetireRequested {
    pub request_id: Uuid,
    pub code: String,
    /// The signed-in account that asked.
    #[serde(default)]
    pub actor: Option<String>,
}
event!(LockerRetireRequested, "locker.retire-requested", LOCKERS);

user_request!(
    /// An existing user without a locker wants one (from user-service).
    LockerRequested { user },
    "locker.requested",
    LOCKERS
);

/// Outcome: `code` is now held by `user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerAssigned {
    pub request_id: Uuid,
    pub user: String,
    pub code: String,
}
event!(LockerAssigned, "locker.assigned", LOCKERS);

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
event!(LockerUnavailable, "locker.unavailable", LOCKERS);

user_request!(
    /// The user's locker is to be released (from user-service: a release or a user's deletion).
    LockerReleaseRequested { user },
    "locker.release-requested",
    LOCKERS
);

/// Outcome: the user holds no locker now; `code` is the one freed, None if they held none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerReleased {
    pub request_id: Uuid,
    pub user: String,
    pub code: Option<String>,
}
event!(LockerReleased, "locker.released", LOCKERS);
