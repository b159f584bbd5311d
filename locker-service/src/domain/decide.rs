//! The decision: what becomes of an add, a locker request, a release or a retirement, given
//! what the store answered. Pure: the shell runs each [`Ask`] as one atomic MongoDB operation and hands the
//! [`Reply`] back; [`decide`] says, from the command and the replies so far, which operation
//! comes next or what the decision is.
//!
//! The atomic operations are where the guarantees live: a locker goes from no holder to one
//! holder only through [`Ask::TakeFree`], one conditional update, and the unique index on
//! `holder` refuses a user a second locker; a locker is retired only through [`Ask::Retire`],
//! one conditional update from no holder and not retired, and a retired locker is never taken
//! (both updates are conditioned on the other's field, on one document, so exactly one of a
//! racing take and retire wins). The core never reads a locker and then writes it; it only
//! interprets what those operations did, including what a crashed earlier attempt of the same
//! request did (a locker it took carries its id in `assigned_by`, one it freed in
//! `released_by`, one it retired in `retired_by`).

use std::fmt;

use uuid::Uuid;
use warren_messages::events::lockers::{
    LockerAssigned, LockerReleased, LockerUnavailable, Unavailability,
};

use super::names::{Answer, Location, LockerCode, RequestKind, UserName};
use super::retire;

/// What a request asks of locker-service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Add {
        code: LockerCode,
        location: Location,
    },
    Request {
        user: UserName,
    },
    Release {
        user: UserName,
    },
    Retire {
        code: LockerCode,
    },
}

impl Command {
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::Add { .. } => RequestKind::Add,
            Self::Request { .. } => RequestKind::Request,
            Self::Release { .. } => RequestKind::Release,
            Self::Retire { .. } => RequestKind::Retire,
        }
    }
}

/// A command and the id of the request that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: Uuid,
    pub command: Command,
}

/// A held locker, the request that assigned it (None if that was no request id) and the take
/// that got it (None for a locker taken before takes had ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub code: LockerCode,
    pub assigned_by: Option<Uuid>,
    pub take: Option<TakeId>,
}

/// One run of the allocation, written on the locker it took. A request can take a locker twice
/// (a decider whose claim was taken over takes one late, after the user released the one the
/// request was given, perhaps the same locker again); its stored outcome names the take that
/// counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TakeId(String);

impl TakeId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One atomic store operation, run for the request being decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Insert the locker unless one with its code exists, retired or not (the unique `_id`):
    /// [`Reply::Inserted`] or [`Reply::Exists`].
    Insert {
        code: LockerCode,
        location: Location,
    },
    /// Which locker does the user hold? [`Reply::Holds`].
    Held { user: UserName },
    /// The allocation: the first free locker by code (no holder, not retired) becomes held by
    /// the user, assigned by this request under a new take id, in one conditional update; the
    /// unique index on `holder` refuses it if the user holds a locker already. [`Reply::Took`].
    TakeFree { user: UserName },
    /// Which locker did this request free (an earlier attempt, or another decider of it)?
    /// [`Reply::ReleasedBy`].
    ReleasedBy,
    /// The release: the locker the user holds becomes free, released by this request, in one
    /// update. [`Reply::Freed`].
    Free { user: UserName },
    /// The retirement: the locker becomes retired by this request if it has no holder and is not
    /// retired, in one conditional update. [`Reply::Retired`].
    Retire { code: LockerCode },
    /// How the locker stands now. [`Reply::Found`].
    Look { code: LockerCode },
}

/// How a locker stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Free,
    Held {
        holder: UserName,
    },
    /// Retired by the request `by` (None if that was no request id).
    Retired {
        by: Option<Uuid>,
    },
}

/// What the store answered to an [`Ask`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Inserted,
    /// A locker with the code exists, added by `added_by` (None if it is gone or was added by
    /// no request id), and perhaps retired.
    Exists {
        added_by: Option<Uuid>,
        retired: bool,
    },
    Holds(Option<Holding>),
    /// The locker the allocation took (assigned by this request); None if none was free or the
    /// user holds one already.
    Took(Option<Holding>),
    ReleasedBy(Option<LockerCode>),
    /// The locker the release freed; None if the user held none.
    Freed(Option<LockerCode>),
    /// Whether the retirement retired the locker (false: it is held, retired or absent).
    Retired(bool),
    /// The locker, if there is one with the code.
    Found(Option<Standing>),
}

/// The outcome event of a decision, as it is published (in an envelope caused by the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeEvent {
    Assigned(LockerAssigned),
    Unavailable(LockerUnavailable),
    Released(LockerReleased),
}

/// What became of a request: what `requests` records under its id, and the event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub kind: RequestKind,
    pub answer: Answer,
    pub locker: Option<LockerCode>,
    /// For an assignment, the take that got the locker.
    pub take: Option<TakeId>,
    /// The user the request is about (for a retirement refused as held, the holder).
    pub user: Option<UserName>,
    pub event: Option<OutcomeEvent>,
}

/// The next step of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Ask(Ask),
    Decided(Decision),
}

/// The replies do not answer the asks `decide` made for this command: a bug in the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfStep {
    pub kind: RequestKind,
    pub replies: Vec<Reply>,
}

impl fmt::Display for OutOfStep {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "replies {:?} do not answer the asks of a {} request",
            self.replies,
            self.kind.as_str()
        )
    }
}

impl std::error::Error for OutOfStep {}

/// Decides `request` from the store's `replies` to the asks made so far (none at first).
pub fn decide(request: &Request, replies: &[Reply]) -> Result<Next, OutOfStep> {
    use Reply::{Exists, Freed, Holds, Inserted, ReleasedBy, Took};
    let id = request.id;
    let next = match (&request.command, replies) {
        (Command::Add { code, location }, []) => Next::Ask(Ask::Insert {
            code: code.clone(),
            location: location.clone(),
        }),
        (Command::Add { code, .. }, [Inserted]) => added(Answer::Added, code),
        // Added by this very request before a crash, or by its other decider.
        (Command::Add { code, .. }, [Exists { added_by, .. }]) if *added_by == Some(id) => {
            added(Answer::Added, code)
        }
        (Command::Add { code, .. }, [Exists { retired: true, .. }]) => {
            added(Answer::CodeRetired, code)
        }
        (Command::Add { code, .. }, [Exists { .. }]) => added(Answer::CodeTaken, code),

        (Command::Request { user }, [] | [Holds(None), Took(None)]) => {
            // Took none: none was free, or the index refused a second locker because the user
            // got one meanwhile (perhaps by this very request, decided elsewhere too).
            Next::Ask(Ask::Held { user: user.clone() })
        }
        (Command::Request { user }, [Holds(None)]) => {
            Next::Ask(Ask::TakeFree { user: user.clone() })
        }
        (
            Command::Request { user },
            [Holds(Some(held))]
            | [Holds(None), Took(Some(held))]
            | [Holds(None), Took(None), Holds(Some(held))],
        ) => holding(id, user, held),
        (Command::Request { user }, [Holds(None), Took(None), Holds(None)]) => {
            unavailable(id, user, Answer::NoneFree, None)
        }

        (Command::Release { .. }, [] | [ReleasedBy(None), Freed(None)]) => {
            // Freed none: the user holds none, or another decider of this request freed it
            // after the first look.
            Next::Ask(Ask::ReleasedBy)
        }
        (Command::Release { user }, [ReleasedBy(None)]) => {
            Next::Ask(Ask::Free { user: user.clone() })
        }
        (
            Command::Release { user },
            [ReleasedBy(Some(code))]
            | [ReleasedBy(None), Freed(Some(code))]
            | [ReleasedBy(None), Freed(None), ReleasedBy(Some(code))],
        ) => released(id, user, Some(code)),
        (Command::Release { user }, [ReleasedBy(None), Freed(None), ReleasedBy(None)]) => {
            released(id, user, None)
        }

        (Command::Retire { code }, replies) => match retire::decide(id, code, replies) {
            Some(next) => next,
            None => return Err(out_of_step(request, replies)),
        },

        _ => return Err(out_of_step(request, replies)),
    };
    Ok(next)
}

/// A decided request as `requests` stores it, as far as the lockers must agree with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub kind: RequestKind,
    pub answer: Answer,
    pub locker: Option<LockerCode>,
    pub take: Option<TakeId>,
}

impl From<&Decision> for Stored {
    fn from(decision: &Decision) -> Self {
        Self {
            kind: decision.kind,
            answer: decision.answer,
            locker: decision.locker.clone(),
            take: decision.take.clone(),
        }
    }
}

/// What a delivery does to the lockers before it publishes (or, without an event, settles) a
/// request's stored outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Every locker assigned by the request is freed but `keep`, the one its outcome names as
    /// taken by the take it names (any take of that locker, for an outcome stored before takes
    /// had ids).
    Assignments {
        keep: Option<(LockerCode, Option<TakeId>)>,
    },
    /// Every locker retired by the request is back in service: its stored outcome is not
    /// `retired`.
    Retirements,
}

/// How the lockers are settled with a stored outcome, if they need to be. Only a decider whose
/// claim was taken over (slow, not dead) can have taken or retired a locker the stored outcome
/// does not name: the first stored decision stands, and the lockers must agree with it.
pub fn settle(stored: &Stored) -> Option<Settle> {
    match (stored.kind, stored.answer, &stored.locker) {
        (RequestKind::Request, Answer::Assigned, Some(code)) => Some(Settle::Assignments {
            keep: Some((code.clone(), stored.take.clone())),
        }),
        (RequestKind::Request, _, _) => Some(Settle::Assignments { keep: None }),
        (RequestKind::Retire, Answer::Retired, _) => None,
        (RequestKind::Retire, _, _) => Some(Settle::Retirements),
        _ => None,
    }
}

fn out_of_step(request: &Request, replies: &[Reply]) -> OutOfStep {
    OutOfStep {
        kind: request.command.kind(),
        replies: replies.to_vec(),
    }
}

fn added(answer: Answer, code: &LockerCode) -> Next {
    Next::Decided(Decision {
        kind: RequestKind::Add,
        answer,
        locker: Some(code.clone()),
        take: None,
        user: None,
        event: None,
    })
}

/// The user holds `held`: given by this very request (also before a crash that kept its
/// outcome from being stored), or by another.
fn holding(id: Uuid, user: &UserName, held: &Holding) -> Next {
    if held.assigned_by == Some(id) {
        assigned(id, user, held)
    } else {
        unavailable(id, user, Answer::AlreadyHolds, Some(&held.code))
    }
}

fn assigned(id: Uuid, user: &UserName, held: &Holding) -> Next {
    let event = OutcomeEvent::Assigned(LockerAssigned {
        request_id: id,
        user: user.to_string(),
        code: held.code.to_string(),
    });
    let kind = RequestKind::Request;
    Next::Decided(Decision {
        take: held.take.clone(),
        ..decision(kind, Answer::Assigned, user, Some(&held.code), event)
    })
}

fn unavailable(id: Uuid, user: &UserName, answer: Answer, held: Option<&LockerCode>) -> Next {
    let reason = match answer {
        Answer::AlreadyHolds => Unavailability::AlreadyHolds,
        _ => Unavailability::NoneFree,
    };
    let event = OutcomeEvent::Unavailable(LockerUnavailable {
        request_id: id,
        user: user.to_string(),
        reason,
        held: held.map(LockerCode::to_string),
    });
    Next::Decided(decision(RequestKind::Request, answer, user, held, event))
}

fn released(id: Uuid, user: &UserName, code: Option<&LockerCode>) -> Next {
    let answer = match code {
        Some(_) => Answer::Released,
        None => Answer::HoldsNone,
    };
    let event = OutcomeEvent::Released(LockerReleased {
        request_id: id,
        user: user.to_string(),
        code: code.map(LockerCode::to_string),
    });
    Next::Decided(decision(RequestKind::Release, answer, user, code, event))
}

fn decision(
    kind: RequestKind,
    answer: Answer,
    user: &UserName,
    locker: Option<&LockerCode>,
    event: OutcomeEvent,
) -> Decision {
    Decision {
        kind,
        answer,
        locker: locker.cloned(),
        take: None,
        user: Some(user.clone()),
        event: Some(event),
    }
}
