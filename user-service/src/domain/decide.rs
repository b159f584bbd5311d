//! The decision: what a request or an outcome does to users and requests, and what it asks of
//! locker-service. Pure: the state comes in as values, the changes and events go out as values,
//! and `storage` reads and writes them in the message's transaction.

use uuid::Uuid;

use super::input::{Command, State, Unavailable, User};
use super::names::{Answer, LockerCode, PasswordHash, RequestKind, Role, UserName};

/// A change to user-service's tables, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Inserts the user, a member, with their password's hash. Always the first write of its
    /// decision: if another transaction took the name meanwhile, the shell reads the state again
    /// and decides again.
    AddUser {
        name: UserName,
        password_hash: PasswordHash,
    },
    /// Records a request (unless one is recorded under its id); `answer` None leaves it pending.
    Record {
        request: Uuid,
        kind: RequestKind,
        name: UserName,
        answer: Option<Answer>,
        locker: Option<LockerCode>,
        /// Who asked, when the request says.
        actor: Option<UserName>,
    },
    /// Answers a pending request.
    Answer {
        request: Uuid,
        answer: Answer,
        locker: Option<LockerCode>,
    },
    SetLocker {
        user: UserName,
        locker: Option<LockerCode>,
    },
    MarkDeleting(UserName),
    RemoveUser(UserName),
    /// Makes the user an operator.
    Promote(UserName),
}

/// An event for locker-service, staged in the outbox with the writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// `locker.requested`
    Request { request: Uuid, user: UserName },
    /// `locker.release-requested`
    Release { request: Uuid, user: UserName },
}

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Already applied by its request: a copy, without effect.
    Copy,
    /// The request is answered (here, or by this outcome).
    Answered(Answer),
    /// The request waits for locker-service.
    Forwarded,
    /// An outcome for a request never recorded here, applied as it comes.
    Unrequested,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub writes: Vec<Write>,
    pub events: Vec<Forward>,
}

/// The request id of the release that gives back a locker assigned by `request` to a user who
/// is gone or going: derived, so a second copy of the assignment would ask for the same release.
pub fn compensation_for(request: Uuid) -> Uuid {
    Uuid::new_v5(&request, b"release-after-deletion")
}

/// Decides `command` against `state`. The request's record names who asked (the command's
/// actor); a record of a request user-service asks for itself names nobody.
pub fn decide(state: &State, command: &Command) -> Decision {
    let mut decision = decide_what(state, command);
    for write in &mut decision.writes {
        if let Write::Record { request, actor, .. } = write
            && *request == command.request()
        {
            *actor = command.actor().cloned();
        }
    }
    decision
}

fn decide_what(state: &State, command: &Command) -> Decision {
    let copy = match &state.request {
        // A request recorded already was taken; an outcome for an answered request is a copy
        // (locker-service sends its stored outcome again whenever the request reaches it).
        Some(request) => !command.is_outcome() || request.answer.is_some(),
        None => false,
    };
    if copy {
        return Decision::new(Verdict::Copy);
    }
    let live = state.user.as_ref().filter(|user| !user.deleting);
    match command {
        Command::Register {
            request,
            name,
            password_hash,
        } => {
            let answer = if state.user.is_some() {
                Answer::NameTaken
            } else {
                Answer::Registered
            };
            let mut writes = Vec::new();
            if answer == Answer::Registered {
                writes.push(Write::AddUser {
                    name: name.clone(),
                    password_hash: password_hash.clone(),
                });
            }
            writes.push(record(
                *request,
                RequestKind::Register,
                name,
                Some(answer),
                None,
            ));
            Decision::answered(answer, writes)
        }
        Command::Delete { request, name, .. } => match &state.user {
            None => answer_here(
                *request,
                RequestKind::Delete,
                name,
                Answer::NoSuchUser,
                None,
            ),
            Some(user) => {
                let mut writes = vec![record(*request, RequestKind::Delete, name, None, None)];
                if !user.deleting {
                    writes.push(Write::MarkDeleting(name.clone()));
                }
                Decision::forwarded(
                    writes,
                    Forward::Release {
                        request: *request,
                        user: name.clone(),
                    },
                )
            }
        },
        Command::Want { request, name, .. } => match live {
            None => answer_here(*request, RequestKind::Want, name, Answer::NoSuchUser, None),
            Some(User {
                locker: Some(code), ..
            }) => answer_here(
                *request,
                RequestKind::Want,
                name,
                Answer::AlreadyHolds,
                Some(code.clone()),
            ),
            Some(User { locker: None, .. }) => Decision::forwarded(
                vec![record(*request, RequestKind::Want, name, None, None)],
                Forward::Request {
                    request: *request,
                    user: name.clone(),
                },
            ),
        },
        Command::Release { request, name, .. } => match live {
            None => answer_here(
                *request,
                RequestKind::Release,
                name,
                Answer::NoSuchUser,
                None,
            ),
            Some(User { locker: None, .. }) => answer_here(
                *request,
                RequestKind::Release,
                name,
                Answer::HoldsNone,
                None,
            ),
            Some(User {
                locker: Some(_), ..
            }) => Decision::forwarded(
                vec![record(*request, RequestKind::Release, name, None, None)],
                Forward::Release {
                    request: *request,
                    user: name.clone(),
                },
            ),
        },
        Command::Promote { request, name, .. } => match live {
            None => answer_here(
                *request,
                RequestKind::Promote,
                name,
                Answer::NoSuchUser,
                None,
            ),
            Some(User {
                role: Role::Operator,
                ..
            }) => answer_here(
                *request,
                RequestKind::Promote,
                name,
                Answer::AlreadyOperator,
                None,
            ),
            Some(User {
                role: Role::Member, ..
            }) => Decision::answered(
                Answer::Promoted,
                vec![
                    record(
                        *request,
                        RequestKind::Promote,
                        name,
                        Some(Answer::Promoted),
                        None,
                    ),
                    Write::Promote(name.clone()),
                ],
            ),
        },
        Command::Assigned {
            request,
            user,
            code,
        } => {
            let mut decision = outcome(state, *request, Answer::Assigned, Some(code));
            if live.is_some() {
                decision.writes.push(Write::SetLocker {
                    user: user.clone(),
                    locker: Some(code.clone()),
                });
            } else {
                // The user is gone or going: give the locker back.
                let release = compensation_for(*request);
                let kind = RequestKind::Compensation;
                decision
                    .writes
                    .push(record(release, kind, user, None, None));
                decision.events.push(Forward::Release {
                    request: release,
                    user: user.clone(),
                });
            }
            decision
        }
        Command::Unavailable { request, user, why } => {
            let (answer, held) = match why {
                Unavailable::NoneFree => (Answer::NoneFree, None),
                Unavailable::AlreadyHolds(held) => (Answer::AlreadyHolds, held.as_ref()),
            };
            let mut decision = outcome(state, *request, answer, held);
            if let (Some(held), Some(_)) = (held, live) {
                // locker-service is the authority on who holds what.
                decision.writes.push(Write::SetLocker {
                    user: user.clone(),
                    locker: Some(held.clone()),
                });
            }
            decision
        }
        Command::Released {
            request,
            user,
            code,
        } => {
            let mut writes = Vec::new();
            let deletion = state
                .request
                .as_ref()
                .is_some_and(|request| request.kind == RequestKind::Delete);
            if let Some(row) = &state.user {
                if deletion && row.deleting {
                    writes.push(Write::RemoveUser(user.clone()));
                } else if row.locker.is_some() && (code.is_none() || row.locker == *code) {
                    writes.push(Write::SetLocker {
                        user: user.clone(),
                        locker: None,
                    });
                }
            }
            // Each deletion is answered by its own release: a deletion's release that
            // locker-service takes late may free the locker of a user registered again under the
            // name since, and that must be seen here too.
            let answer = match code {
                _ if deletion => Answer::Deleted,
                Some(_) => Answer::Released,
                None => Answer::HoldsNone,
            };
            let mut decision = outcome(state, *request, answer, code.as_ref());
            writes.append(&mut decision.writes);
            decision.writes = writes;
            decision
        }
    }
}

impl Decision {
    fn new(verdict: Verdict) -> Self {
        Self {
            verdict,
            writes: Vec::new(),
            events: Vec::new(),
        }
    }

    fn answered(answer: Answer, writes: Vec<Write>) -> Self {
        Self {
            writes,
            ..Self::new(Verdict::Answered(answer))
        }
    }

    fn forwarded(writes: Vec<Write>, event: Forward) -> Self {
        Self {
            writes,
            events: vec![event],
            ..Self::new(Verdict::Forwarded)
        }
    }
}

fn record(
    request: Uuid,
    kind: RequestKind,
    name: &UserName,
    answer: Option<Answer>,
    locker: Option<LockerCode>,
) -> Write {
    Write::Record {
        request,
        kind,
        name: name.clone(),
        answer,
        locker,
        actor: None,
    }
}

/// A request user-service answers by itself.
fn answer_here(
    request: Uuid,
    kind: RequestKind,
    name: &UserName,
    answer: Answer,
    locker: Option<LockerCode>,
) -> Decision {
    Decision::answered(
        answer,
        vec![record(request, kind, name, Some(answer), locker)],
    )
}

/// Records locker-service's answer on its request, if the request is recorded here.
fn outcome(state: &State, request: Uuid, answer: Answer, locker: Option<&LockerCode>) -> Decision {
    match state.request {
        Some(_) => Decision::answered(
            answer,
            vec![Write::Answer {
                request,
                answer,
                locker: locker.cloned(),
            }],
        ),
        None => Decision::new(Verdict::Unrequested),
    }
}
