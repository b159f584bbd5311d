//! Requests from locker-app: register, delete, want a locker, release it.

use super::*;

#[test]
fn registering_adds_a_free_name_and_refuses_a_taken_one() {
    let r = Uuid::now_v7();
    let command = Command::Register {
        request: r,
        name: ada(),
    };
    let registered = Answer::Registered;
    assert_eq!(
        decide(&state(None, None), &command),
        decision(
            Verdict::Answered(registered),
            vec![
                Write::AddUser(ada()),
                record(r, RequestKind::Register, Some(registered), None)
            ],
            vec![]
        )
    );
    for existing in [user(None, false), user(None, true)] {
        let taken = Answer::NameTaken;
        assert_eq!(
            decide(&state(None, existing), &command),
            decision(
                Verdict::Answered(taken),
                vec![record(r, RequestKind::Register, Some(taken), None)],
                vec![]
            )
        );
    }
    let done = Some((RequestKind::Register, Some(Answer::Registered)));
    assert_eq!(decide(&state(done, user(None, false)), &command), copy());
}

#[test]
fn deleting_asks_for_the_release_first_and_marks_the_user_once() {
    let r = Uuid::now_v7();
    let command = Command::Delete {
        request: r,
        name: ada(),
    };
    let none = Answer::NoSuchUser;
    assert_eq!(
        decide(&state(None, None), &command),
        decision(
            Verdict::Answered(none),
            vec![record(r, RequestKind::Delete, Some(none), None)],
            vec![]
        )
    );
    assert_eq!(
        decide(&state(None, user(Some(a1()), false)), &command),
        decision(
            Verdict::Forwarded,
            vec![
                record(r, RequestKind::Delete, None, None),
                Write::MarkDeleting(ada())
            ],
            vec![release(r)]
        )
    );
    assert_eq!(
        decide(&state(None, user(None, true)), &command),
        decision(
            Verdict::Forwarded,
            vec![record(r, RequestKind::Delete, None, None)],
            vec![release(r)]
        )
    );
    let recorded = pending(RequestKind::Delete);
    assert_eq!(decide(&state(recorded, user(None, true)), &command), copy());
}

#[test]
fn a_locker_is_asked_for_only_for_a_live_user_who_holds_none() {
    let r = Uuid::now_v7();
    let command = Command::Want {
        request: r,
        name: ada(),
    };
    let kind = RequestKind::Want;
    for absent in [None, user(None, true)] {
        assert_eq!(
            decide(&state(None, absent), &command),
            decision(
                Verdict::Answered(Answer::NoSuchUser),
                vec![record(r, kind, Some(Answer::NoSuchUser), None)],
                vec![]
            )
        );
    }
    assert_eq!(
        decide(&state(None, user(Some(a1()), false)), &command),
        decision(
            Verdict::Answered(Answer::AlreadyHolds),
            vec![record(r, kind, Some(Answer::AlreadyHolds), Some(a1()))],
            vec![]
        )
    );
    assert_eq!(
        decide(&state(None, user(None, false)), &command),
        decision(
            Verdict::Forwarded,
            vec![record(r, kind, None, None)],
            vec![Forward::Request {
                request: r,
                user: ada()
            }]
        )
    );
    assert_eq!(
        decide(&state(pending(kind), user(None, false)), &command),
        copy()
    );
}

#[test]
fn a_release_is_asked_for_only_for_a_live_user_who_holds_one() {
    let r = Uuid::now_v7();
    let command = Command::Release {
        request: r,
        name: ada(),
    };
    let kind = RequestKind::Release;
    for absent in [None, user(Some(a1()), true)] {
        assert_eq!(
            decide(&state(None, absent), &command),
            decision(
                Verdict::Answered(Answer::NoSuchUser),
                vec![record(r, kind, Some(Answer::NoSuchUser), None)],
                vec![]
            )
        );
    }
    assert_eq!(
        decide(&state(None, user(None, false)), &command),
        decision(
            Verdict::Answered(Answer::HoldsNone),
            vec![record(r, kind, Some(Answer::HoldsNone), None)],
            vec![]
        )
    );
    assert_eq!(
        decide(&state(None, user(Some(a1()), false)), &command),
        decision(
            Verdict::Forwarded,
            vec![record(r, kind, None, None)],
            vec![release(r)]
        )
    );
    let done = Some((kind, Some(Answer::Released)));
    assert_eq!(decide(&state(done, user(None, false)), &command), copy());
}
