//! Requests about users of the locker app, from locker-app to user-service.
//!
//! These are requests, not facts: user-service decides what becomes of each and records the
//! outcome under the request id.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! user_request {
    ($(#[$meta:meta])* $name:ident, $type:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub request_id: Uuid,
            pub name: String,
        }

        event!($name, $type, USERS);
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
