//! Users of the locker app.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::topology::{self, Exchange};

/// Someone asked to register a user name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub request_id: Uuid,
    pub name: String,
}

impl Event for UserRegistered {
    const TYPE: &'static str = "user.registered";
    const SCHEMA_VERSION: u16 = 1;
    const EXCHANGE: Exchange = topology::USERS;
}

/// Someone asked to delete a user (and release their locker first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeleted {
    pub request_id: Uuid,
    pub name: String,
}

impl Event for UserDeleted {
    const TYPE: &'static str = "user.deleted";
    const SCHEMA_VERSION: u16 = 1;
    const EXCHANGE: Exchange = topology::USERS;
}
