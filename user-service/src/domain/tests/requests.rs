//! Requests from locker-app: register, delete, want a locker, release it.

use super::*;

#[test]
fn registering_adds_a_free_name_and_refuses_a_taken_one() {
    let (r, command) = ada_asks(RequestKind::Register);
    let registered = Answer::Registered;
    assert_eq!(
        decide(&state(None, None), &command),
        answered(
            registered,
            vec![
                Write::AddUser(ada()),
                record(r, RequestKind::Register, Some(registered), None)
            ]
        )
    );
    for existing in [user(None, false), user(None, true)] {
        let taken = Answer::NameTaken;
        assert_eq!(
            decide(&state(None, existing), &command),
            recorded(r, RequestKind::Register, taken, None)
        );
    }
    let done = Some((RequestKind::Register, Some(Answer::Registered)));
    assert_eq!(decide(&state(done, user(None, false)), &command), copy());
}

#[test]
fn deleting_asks_for_the_release_first_and_marks_the_user_once() {
    let (r, command) = ada_asks(RequestKind::Delete);
    let none = Answer::NoSuchUser;
    assert_eq!(
        decide(&state(None, None), &command),
        recorded(r, RequestKind::Delete, none, None)
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
    let (r, command) = ada_asks(RequestKind::Want);
    let kind = RequestKind::Want;
    for absent in [None, user(None, true)] {
        assert_eq!(
            decide(&state(None, absent), &command),
            recorded(r, kind, Answer::NoSuchUser, None)
        );
    }
    assert_eq!(
        decide(&state(None, user(Some(a1()), false)), &command),
        answered(
            Answer::AlreadyHolds,
            vec![record(r, kind, Some(Answer::AlreadyHolds), Some(a1()))]
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
    let (r, command) = ada_asks(RequestKind::Release);
    let kind = RequestKind::Release;
    for absent in [None, user(Some(a1()), true)] {
        assert_eq!(
            decide(&state(None, absent), &command),
            recorded(r, kind, Answer::NoSuchUser, None)
        );
    }
    assert_eq!(
        decide(&state(None, user(None, false)), &command),
        recorded(r, kind, Answer::HoldsNone, None)
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
