//! The checks the property tests make after each step.

use std::collections::{BTreeMap, HashSet};

use locker_service::domain::{Answer, Command, Decision, LockerCode, Request, UserName};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::store::Store;
use crate::world::World;

impl World {
    /// One locker per user, a held locker is never given to someone else, no locker is both
    /// retired and held, and a locker whose retirement is stored as retired stays retired (only
    /// a retirement stored otherwise is undone).
    pub(crate) fn check_holders(&self, before: &Store) -> Result<(), TestCaseError> {
        let mut holders = HashSet::new();
        for (code, locker) in &self.store.lockers {
            if let Some(holder) = &locker.holder {
                prop_assert!(holders.insert(holder), "{} holds two lockers", holder);
                prop_assert!(
                    locker.retired_by.is_none(),
                    "{} is retired and held by {}",
                    code,
                    holder
                );
            }
        }
        for (code, was) in &before.lockers {
            let now = &self.store.lockers[code];
            if let (Some(was), Some(now)) = (&was.holder, &now.holder) {
                prop_assert_eq!(was, now, "{} was given away while held", code);
            }
            if let Some(by) = was.retired_by
                && now.retired_by != Some(by)
            {
                let stored = self
                    .store
                    .requests
                    .get(&by)
                    .map(|decided| decided.outcome.answer);
                prop_assert!(
                    stored.is_some_and(|answer| answer != Answer::Retired),
                    "{} came back from a retirement stored as {:?}",
                    code,
                    stored
                );
            }
        }
        Ok(())
    }

    /// The decision is what the store shows, and changes no locker but its own.
    pub(crate) fn check_decision(
        &self,
        before: &Store,
        request: &Request,
        decision: &Decision,
    ) -> Result<(), TestCaseError> {
        let after = &self.store;
        let id = request.id;
        let changed: Vec<&LockerCode> = after
            .lockers
            .iter()
            .filter(|(code, locker)| before.lockers.get(code) != Some(locker))
            .map(|(code, _)| code)
            .collect();
        let only = |code: &LockerCode| changed.iter().all(|changed| *changed == code);
        let held_before = |user| before.held_by(user);
        let context = format!("{request:?} decided {decision:?}");
        match (&request.command, decision.answer, &decision.locker) {
            (Command::Add { code, .. }, Answer::Added, Some(locker)) => {
                prop_assert_eq!(locker, code);
                prop_assert_eq!(after.lockers[code].added_by, id, "{}", context);
                prop_assert!(
                    before
                        .lockers
                        .get(code)
                        .is_none_or(|was| was.added_by == id)
                );
                prop_assert!(only(code), "{}", context);
            }
            (Command::Add { code, .. }, Answer::CodeTaken, Some(locker)) => {
                prop_assert_eq!(locker, code);
                prop_assert!(before.lockers[code].added_by != id, "{}", context);
                prop_assert!(before.lockers[code].retired_by.is_none(), "{}", context);
                prop_assert!(changed.is_empty(), "{}", context);
            }
            (Command::Add { code, .. }, Answer::CodeRetired, Some(locker)) => {
                prop_assert_eq!(locker, code);
                prop_assert!(before.lockers[code].added_by != id, "{}", context);
                prop_assert!(before.lockers[code].retired_by.is_some(), "{}", context);
                prop_assert!(changed.is_empty(), "{}", context);
            }
            (Command::Request { user }, Answer::Assigned, Some(code)) => {
                let now = &after.lockers[code];
                prop_assert_eq!(now.holder.as_ref(), Some(user), "{}", context);
                prop_assert_eq!(now.assigned_by, Some(id), "{}", context);
                let was = &before.lockers[code];
                let taken_now =
                    was.holder.is_none() && was.retired_by.is_none() && held_before(user).is_none();
                let taken_before_a_crash = was == now;
                prop_assert!(taken_now || taken_before_a_crash, "{}", context);
                prop_assert!(only(code), "{}", context);
            }
            (Command::Request { user }, Answer::AlreadyHolds, Some(code)) => {
                let held = held_before(user);
                prop_assert_eq!(held.map(|(held, _)| held), Some(code), "{}", context);
                prop_assert!(held.is_some_and(|(_, locker)| locker.assigned_by != Some(id)));
                prop_assert!(changed.is_empty(), "{}", context);
            }
            (Command::Request { user }, Answer::NoneFree, None) => {
                prop_assert!(held_before(user).is_none(), "{}", context);
                let all_held = before
                    .lockers
                    .values()
                    .all(|locker| locker.holder.is_some() || locker.retired_by.is_some());
                prop_assert!(all_held, "{}", context);
                prop_assert!(changed.is_empty(), "{}", context);
            }
            (Command::Release { user }, Answer::Released, Some(code)) => {
                let was = &before.lockers[code];
                let now = &after.lockers[code];
                if was.holder.as_ref() == Some(user) {
                    prop_assert!(now.holder.is_none(), "{}", context);
                    prop_assert_eq!(now.released_by, Some(id), "{}", context);
                    prop_assert!(only(code), "{}", context);
                } else {
                    // Freed before a crash (it may be someone else's by now).
                    prop_assert_eq!(was.released_by, Some(id), "{}", context);
                    prop_assert!(changed.is_empty(), "{}", context);
                }
            }
            (Command::Release { user }, Answer::HoldsNone, None) => {
                prop_assert!(held_before(user).is_none(), "{}", context);
                // Nor did this request free one before a crash.
                let freed = after
                    .lockers
                    .values()
                    .any(|locker| locker.released_by == Some(id));
                prop_assert!(!freed, "{}", context);
                prop_assert!(changed.is_empty(), "{}", context);
            }
            (Command::Retire { code }, answer, Some(locker)) if locker == code => {
                self.check_retirement(before, request, decision, code, answer, &changed)?;
            }
            _ => prop_assert!(false, "an answer that does not fit: {}", context),
        }
        Ok(())
    }

    /// A retirement's decision is what the store shows, and changes no locker but its own.
    fn check_retirement(
        &self,
        before: &Store,
        request: &Request,
        decision: &Decision,
        code: &LockerCode,
        answer: Answer,
        changed: &[&LockerCode],
    ) -> Result<(), TestCaseError> {
        let id = Some(request.id);
        let was = before.lockers.get(code);
        let now = self.store.lockers.get(code);
        let context = format!("{request:?} decided {decision:?}, was {was:?}, now {now:?}");
        match answer {
            Answer::Retired => {
                let now = now.expect("a retired locker is kept");
                prop_assert_eq!(now.retired_by, id, "{}", context);
                prop_assert!(now.holder.is_none(), "{}", context);
                let was = was.expect("retired, so it was there");
                let retired_now = was.holder.is_none() && was.retired_by.is_none();
                let retired_before_a_crash = was.retired_by == id;
                prop_assert!(retired_now || retired_before_a_crash, "{}", context);
                prop_assert!(
                    changed.iter().all(|changed| *changed == code),
                    "{}",
                    context
                );
            }
            Answer::NoSuchLocker => {
                prop_assert!(was.is_none(), "{}", context);
                prop_assert!(changed.is_empty(), "{}", context);
            }
            Answer::Held => {
                let holder = was.and_then(|was| was.holder.as_ref());
                prop_assert!(holder.is_some(), "{}", context);
                prop_assert_eq!(holder, decision.user.as_ref(), "{}", context);
                prop_assert!(changed.is_empty(), "{}", context);
            }
            Answer::AlreadyRetired => {
                let by = was.and_then(|was| was.retired_by);
                prop_assert!(by.is_some() && by != id, "{}", context);
                prop_assert!(changed.is_empty(), "{}", context);
            }
            _ => prop_assert!(false, "an answer that does not fit: {}", context),
        }
        Ok(())
    }

    /// What is stored for `request` agrees with the lockers.
    pub(crate) fn check_stored(&self, request: &Request) -> Result<(), TestCaseError> {
        let stored = &self.store.requests[&request.id].outcome;
        let lockers = &self.store.lockers;
        let id = Some(request.id);
        let context = format!("{request:?} stored {stored:?}, lockers {lockers:?}");
        let assigned_by_it = lockers.values().any(|locker| locker.assigned_by == id);
        let freed_by_it = lockers.values().any(|locker| locker.released_by == id);
        match (&request.command, stored.answer, &stored.locker) {
            (Command::Add { .. }, Answer::Added, Some(code)) => {
                prop_assert_eq!(Some(lockers[code].added_by), id, "{}", context);
            }
            (Command::Add { .. }, Answer::CodeTaken | Answer::CodeRetired, Some(code)) => {
                prop_assert!(Some(lockers[code].added_by) != id, "{}", context);
            }
            (Command::Request { user }, Answer::Assigned, Some(code)) => {
                prop_assert_eq!(lockers[code].holder.as_ref(), Some(user), "{}", context);
                prop_assert_eq!(lockers[code].assigned_by, id, "{}", context);
            }
            (Command::Request { user }, Answer::AlreadyHolds, Some(code)) => {
                prop_assert_eq!(lockers[code].holder.as_ref(), Some(user), "{}", context);
                prop_assert!(!assigned_by_it, "{}", context);
            }
            (Command::Request { .. }, Answer::NoneFree, None) => {
                prop_assert!(!assigned_by_it, "{}", context);
            }
            (Command::Release { user }, Answer::Released, Some(code)) => {
                prop_assert!(lockers[code].holder.as_ref() != Some(user), "{}", context);
                prop_assert_eq!(lockers[code].released_by, id, "{}", context);
            }
            (Command::Release { .. }, Answer::HoldsNone, None) => {
                prop_assert!(!freed_by_it, "{}", context);
            }
            (Command::Retire { code }, Answer::Retired, Some(locker)) if locker == code => {
                prop_assert_eq!(lockers[code].retired_by, id, "{}", context);
                prop_assert!(lockers[code].holder.is_none(), "{}", context);
            }
            (
                Command::Retire { code },
                Answer::NoSuchLocker | Answer::Held | Answer::AlreadyRetired,
                Some(locker),
            ) if locker == code => {
                let retired_by_it = lockers.values().any(|locker| locker.retired_by == id);
                prop_assert!(!retired_by_it, "{}", context);
            }
            _ => prop_assert!(false, "an answer that does not fit: {}", context),
        }
        Ok(())
    }

    /// user-service's view is who holds what.
    pub(crate) fn check_view(&self) -> Result<(), TestCaseError> {
        let holders: BTreeMap<UserName, LockerCode> = self
            .store
            .lockers
            .iter()
            .filter_map(|(code, locker)| Some((locker.holder.clone()?, code.clone())))
            .collect();
        prop_assert_eq!(
            &self.view,
            &holders,
            "user-service's view is not the lockers"
        );
        Ok(())
    }
}
