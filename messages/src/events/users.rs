//! Requests about users of the locker app, from locker-app to user-service.
//!
//! These are requests, not facts: user-service decides what becomes of each and records the
//! outcome under the request id. `actor` is the signed-in account that asked (the member
//! themself, or an operator); it is absent in events from before accounts.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Someone asked to register a user name, with the password's Argon2id hash (a PHC string made
/// by locker-app: the password itself never leaves locker-app).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRequested {
    pub request_id: Uuid,
    pub name: String,
    pub password_hash: String,
}
event!(RegistrationRequested, "user.registration-requested", USERS);

impl std::fmt::Debug for RegistrationRequested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationRequested")
            .field("request_id", &self.request_id)
            .field("name", &self.name)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// A request about one user, asked by `actor`.
macro_rules! acted_request {
    ($(#[$meta:meta])* $name:ident, $type:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub request_id: Uuid,
            pub name: String,
            /// Who asked; None in events from before accounts.
            #[serde(default)]
            pub actor: Option<String>,
        }
        event!($name, $type, USERS);
    };
}

acted_request!(
    /// Someone asked to delete a user (whose locker, if any, is released first).
    DeletionRequested,
    "user.deletion-requested"
);
acted_request!(
    /// Someone asked for a locker for a user.
    LockerWanted,
    "user.locker-wanted"
);
acted_request!(
    /// Someone asked to release the user's locker.
    ReleaseWanted,
    "user.release-wanted"
);
acted_request!(
    /// An operator asked to make a member an operator.
    PromotionRequested,
    "user.promotion-requested"
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn debug_never_shows_the_password_hash() {
        let event = RegistrationRequested {
            request_id: Uuid::nil(),
            name: "ada".to_owned(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        };
        let debug = format!("{event:?}");
        assert!(
            !debug.contains("argon2id") && debug.contains("[redacted]") && debug.contains("ada"),
            "{debug}"
        );
    }

    #[test]
    fn a_request_from_before_accounts_has_no_actor() {
        let old: DeletionRequested = serde_json::from_str(
            r#"{"request_id":"00000000-0000-0000-0000-000000000000","name":"ada"}"#,
        )
        .unwrap();
        assert_eq!(old.actor, None);
        let new: LockerWanted = serde_json::from_str(
            r#"{"request_id":"00000000-0000-0000-0000-000000000000","name":"ada","actor":"op"}"#,
        )
        .unwrap();
        assert_eq!(new.actor.as_deref(), Some("op"));
    }
}
