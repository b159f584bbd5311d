//! The decision of a retirement. The store retires a locker only in [`Ask::Retire`], one
//! conditional update from "no holder, not retired" to "retired by this request", and takes a
//! locker only if it is not retired, so a retirement and an assignment racing for one free
//! locker end with exactly one of them, and a retired locker is never held.
//!
//! When the conditional update retires nothing, [`Ask::Look`] says why: no such locker, retired
//! (by this very request before a crash, or by its other decider: retired; by another request:
//! already retired), or held (refused: an operator releases the holder first). A locker that is
//! free by the time of the look was held (or not yet added) at the update, and is tried again,
//! a few times at most: a locker taken and released over and over is answered as held.

use uuid::Uuid;

use super::decide::{Ask, Decision, Next, Reply, Standing};
use super::names::{Answer, LockerCode, RequestKind, UserName};

/// How many conditional updates a retirement tries before a locker that was free at every look
/// since is answered as held.
pub const ATTEMPTS: usize = 3;

/// The next step of retiring `code` for the request `id`, or None if `replies` answer no ask.
pub fn decide(id: Uuid, code: &LockerCode, replies: &[Reply]) -> Option<Next> {
    let retire = || Next::Ask(Ask::Retire { code: code.clone() });
    let mut rest = replies;
    let mut attempts = 0;
    loop {
        let next = match rest {
            [] => retire(),
            [Reply::Retired(true)] => decided(Answer::Retired, code, None),
            [Reply::Retired(false)] => Next::Ask(Ask::Look { code: code.clone() }),
            [Reply::Retired(false), Reply::Found(found), later @ ..] => {
                attempts += 1;
                match found {
                    Some(Standing::Free) if attempts < ATTEMPTS => {
                        rest = later;
                        continue;
                    }
                    _ if !later.is_empty() => return None,
                    None => decided(Answer::NoSuchLocker, code, None),
                    Some(Standing::Retired { by }) if *by == Some(id) => {
                        decided(Answer::Retired, code, None)
                    }
                    Some(Standing::Retired { .. }) => decided(Answer::AlreadyRetired, code, None),
                    Some(Standing::Held { holder }) => decided(Answer::Held, code, Some(holder)),
                    Some(Standing::Free) => decided(Answer::Held, code, None),
                }
            }
            _ => return None,
        };
        return Some(next);
    }
}

fn decided(answer: Answer, code: &LockerCode, holder: Option<&UserName>) -> Next {
    Next::Decided(Decision {
        kind: RequestKind::Retire,
        answer,
        locker: Some(code.clone()),
        take: None,
        user: holder.cloned(),
        event: None,
    })
}
