//! Property tests of user-service's decision core against a model of the rest of the system:
//! locker-app's requests arrive in any order, the outbox delivers to locker-service in any order
//! and more than once, locker-service decides each request once and sends its stored outcome
//! again whenever the request reaches it again, any message user-service applied may arrive
//! again after its claim was pruned, and claims are pruned at any moment. locker-service's
//! outcomes reach user-service in the order it decided them (one locker-service, one queue):
//! the outcomes carry no order of their own, so user-service could not tell a late assignment
//! from a new one. `Tables` stands for user-service's tables, written as `storage` writes them.
//!
//! After every step: no locker held by two users in user-service's view (a user holds at most
//! one by the shape of the row); a release frees the named user's locker and touches no other
//! user; an answer once recorded never changes; a replay changes nothing and sends nothing.
//! Once everything is delivered: every request is answered, no user is left half deleted, and
//! user-service's view of who holds what is locker-service's.

mod stores;
mod world;

use proptest::prelude::*;

use crate::world::{Step, World, step};

/// A real Argon2id hash, made once: every registration in the model carries it.
fn password_hash() -> user_service::domain::PasswordHash {
    static HASH: std::sync::OnceLock<user_service::domain::PasswordHash> =
        std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let phc = warren_service_kit::passwords::hash("correct horse battery")
            .expect("a password of the right length");
        user_service::domain::PasswordHash::parse(phc).expect("an Argon2id hash")
    })
    .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(50000))]

    #[test]
    fn invariants_hold_over_any_history(steps in prop::collection::vec(step(), 1..80)) {
        World::new().play(&steps)?;
    }
}

/// ada is deleted twice over; the first release removes her, she registers again and gets a
/// locker, and only then does locker-service take the second deletion's release, freeing that
/// locker. user-service must see it freed too.
#[test]
fn a_late_release_for_an_earlier_deletion_frees_the_locker_of_the_name_registered_again() {
    let (register, delete, want) = (0, 1, 2);
    let ada = 0;
    let mut world = World::new();
    let steps = [
        Step::Ask {
            kind: register,
            user: ada,
        },
        Step::ToUsers(0),
        Step::Ask {
            kind: delete,
            user: ada,
        },
        Step::Ask {
            kind: delete,
            user: ada,
        },
        Step::ToUsers(0),
        Step::ToUsers(0),
        // The first deletion's release: ada is removed.
        Step::ToLockers(0),
        Step::Outcome,
        Step::Ask {
            kind: register,
            user: ada,
        },
        Step::ToUsers(0),
        Step::Ask {
            kind: want,
            user: ada,
        },
        Step::ToUsers(0),
        // locker-service takes the new request before the second deletion's release.
        Step::ToLockers(1),
        Step::Outcome,
        Step::ToLockers(0),
        Step::Outcome,
    ];
    world.play(&steps).unwrap();
}
