//! Lockers: added, requested and released, and the outcomes of requests.

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerAdded {
    pub request_id: Uuid,
    pub code: String,
    pub location: String,
}
locker_event!(LockerAdded, "locker.added");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerRequested {
    pub request_id: Uuid,
    pub user: String,
}
locker_event!(LockerRequested, "locker.requested");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerAssigned {
    pub request_id: Uuid,
    pub user: String,
    pub code: String,
}
locker_event!(LockerAssigned, "locker.assigned");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerUnavailable {
    pub request_id: Uuid,
    pub user: String,
    pub reason: String,
}
locker_event!(LockerUnavailable, "locker.unavailable");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerReleaseRequested {
    pub request_id: Uuid,
    pub user: String,
}
locker_event!(LockerReleaseRequested, "locker.release-requested");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerReleased {
    pub request_id: Uuid,
    pub user: String,
    pub code: String,
}
locker_event!(LockerReleased, "locker.released");
