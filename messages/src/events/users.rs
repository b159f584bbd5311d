//! Requests about users of the locker app, from locker-app to user-service.
//!
//! These are requests, not facts: user-service decides what becomes of each and records the
//! outcome under the request id.

user_request!(
    /// Someone asked to register a user name.
    RegistrationRequested { name },
    "user.registration-requested",
    USERS
);
user_request!(
    /// Someone asked to delete a user (whose locker, if any, is released first).
    DeletionRequested { name },
    "user.deletion-requested",
    USERS
);
user_request!(
    /// Someone asked for a locker for a user.
    LockerWanted { name },
    "user.locker-wanted",
    USERS
);
user_request!(
    /// Someone asked to release the user's locker.
    ReleaseWanted { name },
    "user.release-wanted",
    USERS
);
