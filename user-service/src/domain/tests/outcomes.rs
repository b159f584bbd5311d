//! Outcomes from locker-service: assigned, unavailable, released.

use super::*;

#[test]
fn an_assignment_goes_to_a_live_user_and_is_given_back_for_one_gone_or_going() {
    let r = Uuid::now_v7();
    let command = Command::Assigned {
        request: r,
        user: ada(),
        code: a1(),
    };
    let assigned = Verdict::Answered(Answer::Assigned);
    let recorded = answer(r, Answer::Assigned, Some(a1()));
    assert_eq!(
        decide(
            &state(pending(RequestKind::Want), user(None, false)),
            &command
        ),
        decision(
            assigned,
            vec![recorded.clone(), set_locker(Some(a1()))],
            vec![]
        )
    );
    let back = compensation_for(r);
    assert_ne!(back, r);
    for gone in [None, user(None, true)] {
        assert_eq!(
            decide(&state(pending(RequestKind::Want), gone), &command),
            decision(
                assigned,
                vec![
                    recorded.clone(),
                    record(back, RequestKind::Compensation, None, None)
                ],
                vec![release(back)]
            )
        );
    }
    let done = Some((RequestKind::Want, Some(Answer::Assigned)));
    assert_eq!(decide(&state(done, user(None, false)), &command), copy());
    assert_eq!(
        decide(&state(None, user(None, false)), &command),
        decision(Verdict::Unrequested, vec![set_locker(Some(a1()))], vec![])
    );
}

#[test]
fn no_locker_is_recorded_and_a_named_held_locker_is_taken_as_the_users() {
    let r = Uuid::now_v7();
    let want = pending(RequestKind::Want);
    let unavailable = |why| Command::Unavailable {
        request: r,
        user: ada(),
        why,
    };
    assert_eq!(
        decide(
            &state(want, user(None, false)),
            &unavailable(Unavailable::NoneFree)
        ),
        answered(Answer::NoneFree, vec![answer(r, Answer::NoneFree, None)])
    );
    let named = unavailable(Unavailable::AlreadyHolds(Some(a1())));
    assert_eq!(
        decide(&state(want, user(None, false)), &named),
        answered(
            Answer::AlreadyHolds,
            vec![
                answer(r, Answer::AlreadyHolds, Some(a1())),
                set_locker(Some(a1()))
            ]
        )
    );
    for absent in [None, user(None, true)] {
        assert_eq!(
            decide(&state(want, absent), &named),
            answered(
                Answer::AlreadyHolds,
                vec![answer(r, Answer::AlreadyHolds, Some(a1()))]
            )
        );
    }
    assert_eq!(
        decide(
            &state(want, user(None, false)),
            &unavailable(Unavailable::AlreadyHolds(None))
        ),
        answered(
            Answer::AlreadyHolds,
            vec![answer(r, Answer::AlreadyHolds, None)]
        )
    );
    let done = Some((RequestKind::Want, Some(Answer::NoneFree)));
    assert_eq!(decide(&state(done, user(None, false)), &named), copy());
}

#[test]
fn a_release_frees_only_the_locker_it_names() {
    let r = Uuid::now_v7();
    let released = |code| released(r, code);
    let release_request = pending(RequestKind::Release);
    let a2 = LockerCode::parse("A-2").unwrap();
    assert_eq!(
        decide(
            &state(release_request, user(Some(a1()), false)),
            &released(Some(a1()))
        ),
        answered(
            Answer::Released,
            vec![set_locker(None), answer(r, Answer::Released, Some(a1()))]
        )
    );
    // The user's row names another locker (a later assignment): it stays.
    assert_eq!(
        decide(
            &state(release_request, user(Some(a2), false)),
            &released(Some(a1()))
        ),
        answered(
            Answer::Released,
            vec![answer(r, Answer::Released, Some(a1()))]
        )
    );
    // locker-service says the user held none: whatever the row says is wrong.
    assert_eq!(
        decide(
            &state(release_request, user(Some(a1()), false)),
            &released(None)
        ),
        answered(
            Answer::HoldsNone,
            vec![set_locker(None), answer(r, Answer::HoldsNone, None)]
        )
    );
    let compensation = pending(RequestKind::Compensation);
    assert_eq!(
        decide(&state(compensation, None), &released(Some(a1()))),
        answered(
            Answer::Released,
            vec![answer(r, Answer::Released, Some(a1()))]
        )
    );
    let done = Some((RequestKind::Release, Some(Answer::Released)));
    assert_eq!(
        decide(&state(done, user(Some(a1()), false)), &released(Some(a1()))),
        copy()
    );
    assert_eq!(
        decide(&state(None, user(Some(a1()), false)), &released(Some(a1()))),
        decision(Verdict::Unrequested, vec![set_locker(None)], vec![])
    );
}

#[test]
fn the_release_for_a_deletion_removes_the_user_and_answers_that_deletion() {
    let r = Uuid::now_v7();
    let command = released(r, Some(a1()));
    let deleting = state(pending(RequestKind::Delete), user(Some(a1()), true));
    assert_eq!(
        decide(&deleting, &command),
        answered(
            Answer::Deleted,
            vec![
                Write::RemoveUser(ada()),
                answer(r, Answer::Deleted, Some(a1()))
            ]
        )
    );
    // The name was registered again since: that user stays, only freed of the named locker.
    let again = state(pending(RequestKind::Delete), user(Some(a1()), false));
    assert_eq!(
        decide(&again, &command),
        answered(
            Answer::Deleted,
            vec![set_locker(None), answer(r, Answer::Deleted, Some(a1()))]
        )
    );
    let gone = state(pending(RequestKind::Delete), None);
    assert_eq!(
        decide(&gone, &command),
        answered(
            Answer::Deleted,
            vec![answer(r, Answer::Deleted, Some(a1()))]
        )
    );
    let done = Some((RequestKind::Delete, Some(Answer::Deleted)));
    assert_eq!(decide(&state(done, None), &command), copy());
}
