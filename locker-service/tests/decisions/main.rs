//! Property tests of locker-service's decision core (`domain::decide`) over a model of its
//! store (`store::Store`, which answers each atomic operation as MongoDB does): random histories
//! of adds, locker requests and releases for a few users and lockers, in which any delivery may
//! crash after its store operations and before its decision is stored, any request may be
//! delivered again at any time, two deliveries may decide at once one store operation at a
//! time (the same request, or two alike, as after a claim was taken over from a slow
//! instance), and such a slow instance may run its take after the request was decided.
//! user-service forwards a user's next request only once the last one is answered, so a crashed
//! request is delivered again before the same user's next one.
//!
//! After every store operation: each user holds at most one locker, and a held locker is never
//! given to someone else. After every delivery: the decision is what the store shows (assigned:
//! the user now holds the locker this request took; none-free: every locker was held;
//! already-holds: the user held that locker by another request; a release frees exactly the
//! locker the user held and touches no other, and holds-none means it freed none), and a request
//! delivered again publishes the very outcome it published first. After a race, each stored
//! outcome agrees with the lockers. Whenever no crashed request waits, and at the end,
//! user-service's view built from the published outcomes (as user-service applies them, the
//! first outcome per request) is who holds what.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checks;
mod store;
mod world;

use proptest::prelude::*;

use crate::world::{Step, World, step};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn invariants_hold_over_any_history(steps in prop::collection::vec(step(), 1..60)) {
        World::new().play(&steps)?;
    }
}

/// A decider of ada's locker request whose claim was taken over (slow, not dead) runs its take
/// only after the request was decided and ada released her locker: first it takes the very
/// locker she had (A-1, a new take), then, once bob holds A-1, another one. The first
/// stored decision stands, so each late take is undone when the request is next delivered.
#[test]
fn a_locker_taken_late_by_a_request_already_decided_is_freed_on_its_next_delivery() {
    let (ada, bob) = (0, 1);
    let ada_wants = 0;
    let steps = [
        Step::Add {
            code: 0,
            crash: false,
        },
        Step::Add {
            code: 1,
            crash: false,
        },
        Step::Want {
            user: ada,
            crash: false,
        },
        Step::Release {
            user: ada,
            crash: false,
        },
        Step::LateTake(ada_wants),
        Step::Want {
            user: bob,
            crash: false,
        },
        Step::LateTake(ada_wants),
    ];
    World::new().play(&steps).unwrap();
}

/// Every decision that crashes after its store operations is recognised on the next delivery:
/// an add by the locker's `added_by`, a take by `assigned_by`, a release by `released_by`.
#[test]
fn a_request_that_crashed_after_its_store_operations_gets_the_same_outcome_again() {
    let (ada, a1) = (0, 0);
    let steps = [
        Step::Add {
            code: a1,
            crash: true,
        },
        Step::Again(0),
        Step::Want {
            user: ada,
            crash: true,
        },
        Step::Again(1),
        Step::Release {
            user: ada,
            crash: true,
        },
        Step::Again(2),
        Step::Again(1),
    ];
    World::new().play(&steps).unwrap();
}
