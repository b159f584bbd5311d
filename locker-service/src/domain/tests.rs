//! The decision for every command and every outcome, step by step as the shell runs it.

use uuid::Uuid;
use warren_messages::events::lockers::{
    LockerAssigned, LockerReleased, LockerUnavailable, Unavailability,
};

use super::*;

const THIS: Uuid = Uuid::from_u128(1);
const OTHER: Uuid = Uuid::from_u128(2);

fn ada() -> UserName {
    UserName::parse("ada").unwrap()
}

fn code(text: &str) -> LockerCode {
    LockerCode::parse(text).unwrap()
}

fn add() -> Request {
    Request {
        id: THIS,
        command: Command::Add {
            code: code("A-1"),
            location: Location::parse("Hall B").unwrap(),
        },
    }
}

fn want() -> Request {
    Request {
        id: THIS,
        command: Command::Request { user: ada() },
    }
}

fn release() -> Request {
    Request {
        id: THIS,
        command: Command::Release { user: ada() },
    }
}

/// The take that got locker `text`.
fn take_of(text: &str) -> Option<TakeId> {
    Some(TakeId::new(format!("take-{text}")))
}

fn holding(text: &str, by: Option<Uuid>) -> Holding {
    Holding {
        code: code(text),
        assigned_by: by,
        take: take_of(text),
    }
}

fn held(text: &str, by: Option<Uuid>) -> Reply {
    Reply::Holds(Some(holding(text, by)))
}

/// Feeds `replies` one by one, checking that each answers the ask `decide` made before it, and
/// returns the decision they lead to.
fn decided(request: &Request, replies: &[(Ask, Reply)]) -> Decision {
    let mut given = Vec::new();
    for (ask, reply) in replies {
        assert_eq!(
            decide(request, &given),
            Ok(Next::Ask(ask.clone())),
            "after {given:?}"
        );
        given.push(reply.clone());
    }
    match decide(request, &given) {
        Ok(Next::Decided(decision)) => decision,
        other => panic!("not decided after {given:?}: {other:?}"),
    }
}

fn insert() -> Ask {
    Ask::Insert {
        code: code("A-1"),
        location: Location::parse("Hall B").unwrap(),
    }
}

fn held_ask() -> Ask {
    Ask::Held { user: ada() }
}

fn take() -> Ask {
    Ask::TakeFree { user: ada() }
}

fn free() -> Ask {
    Ask::Free { user: ada() }
}

fn assigned(text: &str) -> Decision {
    Decision {
        kind: RequestKind::Request,
        answer: Answer::Assigned,
        locker: Some(code(text)),
        take: take_of(text),
        user: Some(ada()),
        event: Some(OutcomeEvent::Assigned(LockerAssigned {
            request_id: THIS,
            user: "ada".into(),
            code: text.into(),
        })),
    }
}

fn already_holds(text: &str) -> Decision {
    Decision {
        kind: RequestKind::Request,
        answer: Answer::AlreadyHolds,
        locker: Some(code(text)),
        take: None,
        user: Some(ada()),
        event: Some(OutcomeEvent::Unavailable(LockerUnavailable {
            request_id: THIS,
            user: "ada".into(),
            reason: Unavailability::AlreadyHolds,
            held: Some(text.into()),
        })),
    }
}

fn released(text: Option<&str>) -> Decision {
    Decision {
        kind: RequestKind::Release,
        answer: if text.is_some() {
            Answer::Released
        } else {
            Answer::HoldsNone
        },
        locker: text.map(code),
        take: None,
        user: Some(ada()),
        event: Some(OutcomeEvent::Released(LockerReleased {
            request_id: THIS,
            user: "ada".into(),
            code: text.map(str::to_owned),
        })),
    }
}

fn added(answer: Answer) -> Decision {
    Decision {
        kind: RequestKind::Add,
        answer,
        locker: Some(code("A-1")),
        take: None,
        user: None,
        event: None,
    }
}

#[test]
fn an_add_inserts_the_locker_and_a_code_added_by_another_request_is_taken() {
    assert_eq!(
        decided(&add(), &[(insert(), Reply::Inserted)]),
        added(Answer::Added)
    );
    let exists = |by| Reply::Exists {
        added_by: by,
        retired: false,
    };
    // Inserted by this very request before a crash kept its outcome from being stored.
    assert_eq!(
        decided(&add(), &[(insert(), exists(Some(THIS)))]),
        added(Answer::Added)
    );
    assert_eq!(
        decided(&add(), &[(insert(), exists(Some(OTHER)))]),
        added(Answer::CodeTaken)
    );
    assert_eq!(
        decided(&add(), &[(insert(), exists(None))]),
        added(Answer::CodeTaken)
    );
    // A retired locker's code is not reused; one this very request added stays added.
    let retired = |by| Reply::Exists {
        added_by: by,
        retired: true,
    };
    assert_eq!(
        decided(&add(), &[(insert(), retired(Some(OTHER)))]),
        added(Answer::CodeRetired)
    );
    assert_eq!(
        decided(&add(), &[(insert(), retired(Some(THIS)))]),
        added(Answer::Added)
    );
}

#[test]
fn a_request_of_a_user_without_a_locker_takes_a_free_one() {
    let took = Reply::Took(Some(holding("A-1", Some(THIS))));
    assert_eq!(
        decided(&want(), &[(held_ask(), Reply::Holds(None)), (take(), took)]),
        assigned("A-1")
    );
}

#[test]
fn a_request_when_no_locker_is_free_gets_none_free() {
    let decision = decided(
        &want(),
        &[
            (held_ask(), Reply::Holds(None)),
            (take(), Reply::Took(None)),
            (held_ask(), Reply::Holds(None)),
        ],
    );
    assert_eq!(decision.answer, Answer::NoneFree);
    assert_eq!(decision.locker, None);
    assert_eq!(
        decision.event,
        Some(OutcomeEvent::Unavailable(LockerUnavailable {
            request_id: THIS,
            user: "ada".into(),
            reason: Unavailability::NoneFree,
            held: None,
        }))
    );
}

#[test]
fn a_request_of_a_user_who_holds_a_locker_given_by_another_request_gets_already_holds() {
    assert_eq!(
        decided(&want(), &[(held_ask(), held("B-2", Some(OTHER)))]),
        already_holds("B-2")
    );
    // A locker assigned by no request id is another request's too.
    assert_eq!(
        decided(&want(), &[(held_ask(), held("B-2", None))]),
        already_holds("B-2")
    );
}

#[test]
fn a_request_that_finds_the_locker_it_took_before_a_crash_is_assigned_it() {
    assert_eq!(
        decided(&want(), &[(held_ask(), held("B-2", Some(THIS)))]),
        assigned("B-2")
    );
    // Taken before takes had ids.
    let untagged = Holding {
        take: None,
        ..holding("B-2", Some(THIS))
    };
    let decision = decided(&want(), &[(held_ask(), Reply::Holds(Some(untagged)))]);
    assert_eq!(
        decision,
        Decision {
            take: None,
            ..assigned("B-2")
        }
    );
}

#[test]
fn a_request_whose_take_the_index_refused_looks_again_at_what_the_user_holds() {
    let refused = [
        (held_ask(), Reply::Holds(None)),
        (take(), Reply::Took(None)),
    ];
    // Taken meanwhile by this request's other decider.
    let by_this = [
        refused.to_vec(),
        vec![(held_ask(), held("C-3", Some(THIS)))],
    ]
    .concat();
    assert_eq!(decided(&want(), &by_this), assigned("C-3"));
    // Taken meanwhile by another request of the user.
    let by_other = [
        refused.to_vec(),
        vec![(held_ask(), held("C-3", Some(OTHER)))],
    ]
    .concat();
    assert_eq!(decided(&want(), &by_other), already_holds("C-3"));
}

#[test]
fn a_release_frees_the_locker_the_user_holds() {
    let decision = decided(
        &release(),
        &[
            (Ask::ReleasedBy, Reply::ReleasedBy(None)),
            (free(), Reply::Freed(Some(code("A-1")))),
        ],
    );
    assert_eq!(decision, released(Some("A-1")));
}

#[test]
fn a_release_that_finds_the_locker_it_freed_before_a_crash_is_released() {
    let decision = decided(
        &release(),
        &[(Ask::ReleasedBy, Reply::ReleasedBy(Some(code("A-1"))))],
    );
    assert_eq!(decision, released(Some("A-1")));
}

#[test]
fn a_release_of_a_user_who_holds_none_gets_holds_none_unless_its_other_decider_freed_one() {
    let freed_none = [
        (Ask::ReleasedBy, Reply::ReleasedBy(None)),
        (free(), Reply::Freed(None)),
    ];
    let none = [
        freed_none.to_vec(),
        vec![(Ask::ReleasedBy, Reply::ReleasedBy(None))],
    ]
    .concat();
    assert_eq!(decided(&release(), &none), released(None));
    let elsewhere = [
        freed_none.to_vec(),
        vec![(Ask::ReleasedBy, Reply::ReleasedBy(Some(code("D-4"))))],
    ]
    .concat();
    assert_eq!(decided(&release(), &elsewhere), released(Some("D-4")));
}

#[test]
fn replies_that_answer_no_ask_are_out_of_step() {
    let cases: [(Request, Vec<Reply>); 5] = [
        (add(), vec![Reply::Holds(None)]),
        (add(), vec![Reply::Inserted, Reply::Inserted]),
        (want(), vec![Reply::Inserted]),
        (
            want(),
            vec![
                Reply::Holds(None),
                Reply::Took(None),
                Reply::Holds(None),
                Reply::Holds(None),
            ],
        ),
        (release(), vec![Reply::Freed(None)]),
    ];
    for (request, replies) in cases {
        let error = decide(&request, &replies).unwrap_err();
        assert_eq!(error.replies, replies);
        assert!(error.to_string().contains(request.command.kind().as_str()));
    }
}

#[test]
fn a_locker_request_keeps_only_the_locker_and_take_it_was_assigned_and_a_retirement_not_stored_as_retired_restores_its_locker()
 {
    for &kind in RequestKind::ALL {
        for &answer in Answer::ALL {
            let stored = Stored {
                kind,
                answer,
                locker: Some(code("A-1")),
                take: take_of("A-1"),
            };
            let expected = match (kind, answer) {
                (RequestKind::Request, Answer::Assigned) => Some(Settle::Assignments {
                    keep: Some((code("A-1"), take_of("A-1"))),
                }),
                (RequestKind::Request, _) => Some(Settle::Assignments { keep: None }),
                (RequestKind::Retire, Answer::Retired) => None,
                (RequestKind::Retire, _) => Some(Settle::Retirements),
                _ => None,
            };
            assert_eq!(settle(&stored), expected, "{kind:?} {answer:?}");
        }
    }
    // An outcome stored before takes had ids keeps its locker by code.
    let untagged = Stored {
        kind: RequestKind::Request,
        answer: Answer::Assigned,
        locker: Some(code("A-1")),
        take: None,
    };
    let keep = Some((code("A-1"), None));
    assert_eq!(settle(&untagged), Some(Settle::Assignments { keep }));
    // The decision is stored with its take.
    let stored = Stored::from(&assigned("A-1"));
    assert_eq!(stored.take, take_of("A-1"));
}

#[test]
fn kinds_and_answers_are_stored_as_their_words_and_read_back() {
    for &kind in RequestKind::ALL {
        assert_eq!(RequestKind::parse(kind.as_str()), Ok(kind));
    }
    for &answer in Answer::ALL {
        assert_eq!(Answer::parse(answer.as_str()), Ok(answer));
    }
    let words: Vec<_> = Answer::ALL.iter().map(|answer| answer.as_str()).collect();
    assert_eq!(
        words,
        [
            "added",
            "code-taken",
            "assigned",
            "none-free",
            "already-holds",
            "released",
            "holds-none",
            "code-retired",
            "retired",
            "no-such-locker",
            "held",
            "already-retired"
        ]
    );
    assert!(RequestKind::parse("want").is_err());
    assert!(Answer::parse("ASSIGNED").is_err());
}

#[test]
fn names_codes_and_locations_are_checked_as_on_the_wire() {
    assert_eq!(UserName::parse("Ada L.").unwrap().as_str(), "Ada L.");
    assert_eq!(LockerCode::parse("A-01").unwrap().to_string(), "A-01");
    assert_eq!(String::from(Location::parse("Hall B").unwrap()), "Hall B");
    for bad in ["", " ada", "a{b}", &"x".repeat(33)] {
        assert!(UserName::parse(bad).is_err(), "{bad:?}");
    }
    for bad in ["", "a-01", "$ne", "ABCDEFGHIJKLM"] {
        assert!(LockerCode::parse(bad).is_err(), "{bad:?}");
    }
    for bad in ["", " x", "a\tb"] {
        assert!(Location::parse(bad).is_err(), "{bad:?}");
    }
}

fn retire_request() -> Request {
    Request {
        id: THIS,
        command: Command::Retire { code: code("A-1") },
    }
}

fn retire() -> Ask {
    Ask::Retire { code: code("A-1") }
}

fn look() -> Ask {
    Ask::Look { code: code("A-1") }
}

fn retirement(answer: Answer, holder: Option<UserName>) -> Decision {
    Decision {
        kind: RequestKind::Retire,
        answer,
        locker: Some(code("A-1")),
        take: None,
        user: holder,
        event: None,
    }
}

#[test]
fn a_retirement_retires_a_free_locker_and_says_why_it_did_not() {
    assert_eq!(
        decided(&retire_request(), &[(retire(), Reply::Retired(true))]),
        retirement(Answer::Retired, None)
    );
    let refused_then = |found| {
        decided(
            &retire_request(),
            &[
                (retire(), Reply::Retired(false)),
                (look(), Reply::Found(found)),
            ],
        )
    };
    assert_eq!(refused_then(None), retirement(Answer::NoSuchLocker, None));
    let held = Standing::Held { holder: ada() };
    assert_eq!(
        refused_then(Some(held)),
        retirement(Answer::Held, Some(ada()))
    );
    // Retired by this very request before a crash, or by its other decider.
    let by_this = Standing::Retired { by: Some(THIS) };
    assert_eq!(
        refused_then(Some(by_this)),
        retirement(Answer::Retired, None)
    );
    for by in [Some(OTHER), None] {
        assert_eq!(
            refused_then(Some(Standing::Retired { by })),
            retirement(Answer::AlreadyRetired, None)
        );
    }
}

#[test]
fn a_locker_freed_between_the_retirement_and_the_look_is_tried_again_a_few_times() {
    let round = [
        (retire(), Reply::Retired(false)),
        (look(), Reply::Found(Some(Standing::Free))),
    ];
    let then_retired = [round.to_vec(), vec![(retire(), Reply::Retired(true))]].concat();
    assert_eq!(
        decided(&retire_request(), &then_retired),
        retirement(Answer::Retired, None)
    );
    // Taken and freed again at every try: held, as it was at each conditional update.
    let always_free: Vec<(Ask, Reply)> = round
        .iter()
        .cycle()
        .take(2 * RETIRE_ATTEMPTS)
        .cloned()
        .collect();
    assert_eq!(
        decided(&retire_request(), &always_free),
        retirement(Answer::Held, None)
    );
    let replies: Vec<Reply> = always_free.iter().map(|(_, reply)| reply.clone()).collect();
    let beyond = [replies, vec![Reply::Retired(true)]].concat();
    assert!(decide(&retire_request(), &beyond).is_err());
}

#[test]
fn retirement_replies_that_answer_no_ask_are_out_of_step() {
    let cases: [Vec<Reply>; 4] = [
        vec![Reply::Inserted],
        vec![Reply::Retired(true), Reply::Retired(true)],
        vec![Reply::Found(None)],
        vec![
            Reply::Retired(false),
            Reply::Found(None),
            Reply::Retired(true),
        ],
    ];
    for replies in cases {
        let error = decide(&retire_request(), &replies).unwrap_err();
        assert_eq!(error.replies, replies);
        assert!(error.to_string().contains("retire"));
    }
}
