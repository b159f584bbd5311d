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
                Write::AddUser {
                    name: ada(),
                    password_hash: hash()
                },
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

#[test]
fn a_promotion_makes_a_live_member_an_operator_once_and_names_who_asked() {
    let (r, command) = ada_asks(RequestKind::Promote);
    let kind = RequestKind::Promote;
    for absent in [None, user(None, true), operator(None, true)] {
        assert_eq!(
            decide(&state(None, absent), &command),
            recorded(r, kind, Answer::NoSuchUser, None)
        );
    }
    assert_eq!(
        decide(&state(None, user(Some(a1()), false)), &command),
        answered(
            Answer::Promoted,
            vec![
                record(r, kind, Some(Answer::Promoted), None),
                Write::Promote(ada())
            ]
        )
    );
    assert_eq!(
        decide(&state(None, operator(None, false)), &command),
        recorded(r, kind, Answer::AlreadyOperator, None)
    );
    let done = Some((kind, Some(Answer::Promoted)));
    assert_eq!(
        decide(&state(done, operator(None, false)), &command),
        copy()
    );
}

#[test]
fn every_request_records_who_asked_and_a_registration_stores_the_hash_it_was_given() {
    let boss = UserName::parse("boss").unwrap();
    let (r, _) = ada_asks(RequestKind::Want);
    let command = Command::Want {
        request: r,
        name: ada(),
        actor: Some(boss.clone()),
    };
    let decision = decide(&state(None, user(None, false)), &command);
    assert!(
        matches!(&decision.writes[0], Write::Record { actor: Some(who), .. } if *who == boss),
        "{decision:?}"
    );
    let before_accounts = Command::Release {
        request: r,
        name: ada(),
        actor: None,
    };
    let decision = decide(&state(None, user(None, false)), &before_accounts);
    assert!(
        matches!(&decision.writes[0], Write::Record { actor: None, .. }),
        "{decision:?}"
    );
    // The hash goes into the row untouched; the core never sees a password.
    let (_, register) = ada_asks(RequestKind::Register);
    let decision = decide(&state(None, None), &register);
    assert!(
        matches!(&decision.writes[0], Write::AddUser { password_hash, .. } if *password_hash == hash()),
        "{decision:?}"
    );
    assert!(!format!("{decision:?}").contains("argon2id"));
}
