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
