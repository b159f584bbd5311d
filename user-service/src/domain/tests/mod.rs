//! The decision for every request kind and every outcome.

mod outcomes;
mod requests;

use uuid::Uuid;

use super::*;

fn ada() -> UserName {
    UserName::parse("ada").unwrap()
}

fn a1() -> LockerCode {
    LockerCode::parse("A-1").unwrap()
}

fn user(locker: Option<LockerCode>, deleting: bool) -> Option<User> {
    Some(User {
        locker,
        deleting,
        role: Role::Member,
    })
}

fn operator(locker: Option<LockerCode>, deleting: bool) -> Option<User> {
    Some(User {
        locker,
        deleting,
        role: Role::Operator,
    })
}

/// The Argon2id hash of ada's password (a fixed PHC string: the core only carries it).
fn hash() -> PasswordHash {
    PasswordHash::parse(
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$\
         bWFkZXVwaGFzaG1hZGV1cGhhc2htYWRldXBoYXNobWFkZQ",
    )
    .unwrap()
}

/// Who asks for ada in these tests: ada herself.
fn actor() -> Option<UserName> {
    Some(ada())
}

fn state(request: Option<(RequestKind, Option<Answer>)>, user: Option<User>) -> State {
    State {
        request: request.map(|(kind, answer)| Request { kind, answer }),
        user,
    }
}

fn pending(kind: RequestKind) -> Option<(RequestKind, Option<Answer>)> {
    Some((kind, None))
}

fn record(
    request: Uuid,
    kind: RequestKind,
    answer: Option<Answer>,
    locker: Option<LockerCode>,
) -> Write {
    Write::Record {
        request,
        kind,
        name: ada(),
        answer,
        locker,
        // Every request ada asks names her; a registration and user-service's own names nobody.
        actor: match kind {
            RequestKind::Register | RequestKind::Compensation => None,
            _ => actor(),
        },
    }
}

fn answer(request: Uuid, answer: Answer, locker: Option<LockerCode>) -> Write {
    Write::Answer {
        request,
        answer,
        locker,
    }
}

fn set_locker(locker: Option<LockerCode>) -> Write {
    Write::SetLocker {
        user: ada(),
        locker,
    }
}

fn release(request: Uuid) -> Forward {
    Forward::Release {
        request,
        user: ada(),
    }
}

fn decision(verdict: Verdict, writes: Vec<Write>, events: Vec<Forward>) -> Decision {
    Decision {
        verdict,
        writes,
        events,
    }
}

/// Answered at once with `writes`, nothing forwarded.
fn answered(answer: Answer, writes: Vec<Write>) -> Decision {
    decision(Verdict::Answered(answer), writes, vec![])
}

/// Answered at once with `answer`, which is recorded for request `r` of `kind`.
fn recorded(r: Uuid, kind: RequestKind, answer: Answer, locker: Option<LockerCode>) -> Decision {
    answered(answer, vec![record(r, kind, Some(answer), locker)])
}

/// ada's request of `kind` from locker-app, under a fresh request id.
fn ada_asks(kind: RequestKind) -> (Uuid, Command) {
    let (request, name, actor) = (Uuid::now_v7(), ada(), actor());
    let command = match kind {
        RequestKind::Register => Command::Register {
            request,
            name,
            password_hash: hash(),
        },
        RequestKind::Delete => Command::Delete {
            request,
            name,
            actor,
        },
        RequestKind::Want => Command::Want {
            request,
            name,
            actor,
        },
        RequestKind::Release => Command::Release {
            request,
            name,
            actor,
        },
        RequestKind::Promote => Command::Promote {
            request,
            name,
            actor,
        },
        RequestKind::Compensation => panic!("locker-app never asks for a compensation"),
    };
    (request, command)
}

/// locker-service's release of `code` for ada's `request`.
fn released(request: Uuid, code: Option<LockerCode>) -> Command {
    Command::Released {
        request,
        user: ada(),
        code,
    }
}

fn copy() -> Decision {
    decision(Verdict::Copy, vec![], vec![])
}

#[test]
fn names_codes_kinds_and_answers_are_checked_and_stored_as_text() {
    assert!(UserName::parse("{\"$gt\": \"\"}").is_err());
    assert!(LockerCode::parse("a-1").is_err());
    for kind in RequestKind::ALL {
        assert_eq!(RequestKind::parse(kind.as_str()), Ok(*kind));
    }
    for answer in Answer::ALL {
        assert_eq!(Answer::parse(answer.as_str()), Ok(*answer));
    }
    assert_eq!(RequestKind::Want.as_str(), "request");
    assert!(Answer::parse("maybe").is_err());
}
