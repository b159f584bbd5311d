//! The histories the property tests play, and the checks made after each step.

use std::collections::{BTreeMap, HashMap, HashSet};

use locker_service::domain::{
    Answer, Ask, Command, Location, LockerCode, OutcomeEvent, Request, RequestKind, UserName,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use uuid::Uuid;
use warren_messages::events::lockers::Unavailability;

use crate::store::{Decider, Store};

const CODES: [&str; 3] = ["A-1", "A-2", "A-3"];
const USERS: [&str; 4] = ["ada", "bob", "cy", "dee"];

#[derive(Debug, Clone)]
pub enum Step {
    Add {
        code: usize,
        crash: bool,
    },
    Want {
        user: usize,
        crash: bool,
    },
    Release {
        user: usize,
        crash: bool,
    },
    /// An operator retires a locker (perhaps one never added).
    Retire {
        code: usize,
        crash: bool,
    },
    /// The broker delivers an earlier request again (picked by index, modulo their number).
    Again(usize),
    /// An instance whose claim on an earlier, decided locker request was taken over (slow, not
    /// dead) runs its take only now; then the request is delivered again.
    LateTake(usize),
    /// The same for an earlier, decided retirement: it runs its conditional update only now.
    LateRetire(usize),
    /// A user's locker request and a retirement decided at once, one store operation at a time
    /// in the order `turns` gives (true: the request).
    Contest {
        user: usize,
        code: usize,
        turns: Vec<bool>,
    },
    /// Two deliveries decided at once, one store operation at a time in the order `turns` gives
    /// (true: the first), as an instance whose claim was taken over and the one that took it:
    /// of one request (`same`), or of two requests alike (one user's wants or releases, or two
    /// adds or retirements of one code).
    Race {
        kind: Kind,
        index: usize,
        same: bool,
        turns: Vec<bool>,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Add,
    Want,
    Release,
    Retire,
}

pub fn step() -> impl Strategy<Value = Step> {
    let crash = || prop::bool::weighted(0.2);
    prop_oneof![
        1 => (0..CODES.len(), crash()).prop_map(|(code, crash)| Step::Add { code, crash }),
        3 => (0..USERS.len(), crash()).prop_map(|(user, crash)| Step::Want { user, crash }),
        2 => (0..USERS.len(), crash()).prop_map(|(user, crash)| Step::Release { user, crash }),
        1 => (0..CODES.len(), crash()).prop_map(|(code, crash)| Step::Retire { code, crash }),
        2 => any::<usize>().prop_map(Step::Again),
        1 => any::<usize>().prop_map(Step::LateTake),
        1 => any::<usize>().prop_map(Step::LateRetire),
        1 => (
            0..USERS.len(),
            0..CODES.len(),
            prop::collection::vec(any::<bool>(), 0..12),
        )
            .prop_map(|(user, code, turns)| Step::Contest { user, code, turns }),
        2 => (
            prop_oneof![
                Just(Kind::Add),
                Just(Kind::Want),
                Just(Kind::Release),
                Just(Kind::Retire)
            ],
            0..USERS.len(),
            any::<bool>(),
            prop::collection::vec(any::<bool>(), 0..12),
        )
            .prop_map(|(kind, index, same, turns)| Step::Race { kind, index, same, turns }),
    ]
}

fn command(kind: Kind, index: usize) -> Command {
    let user = UserName::parse(USERS[index % USERS.len()]).unwrap();
    let code = LockerCode::parse(CODES[index % CODES.len()]).unwrap();
    match kind {
        Kind::Add => Command::Add {
            code,
            location: Location::parse("Hall B").unwrap(),
        },
        Kind::Want => Command::Request { user },
        Kind::Release => Command::Release { user },
        Kind::Retire => Command::Retire { code },
    }
}

fn user_of(request: &Request) -> Option<&UserName> {
    match &request.command {
        Command::Add { .. } | Command::Retire { .. } => None,
        Command::Request { user } | Command::Release { user } => Some(user),
    }
}

#[derive(Default)]
pub struct World {
    pub(crate) store: Store,
    requests: Vec<Request>,
    /// Requests whose delivery crashed before their decision was stored.
    pending: HashSet<Uuid>,
    /// The outcome each stored request published first.
    first: HashMap<Uuid, Option<OutcomeEvent>>,
    /// Who holds what as user-service sees it from the published outcomes.
    pub(crate) view: BTreeMap<UserName, LockerCode>,
}

impl World {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn play(&mut self, steps: &[Step]) -> Result<(), TestCaseError> {
        for step in steps {
            self.step(step)?;
            if self.pending.is_empty() {
                self.check_view()?;
            }
        }
        // The broker delivers every crashed request again in the end.
        for index in 0..self.requests.len() {
            if self.pending.contains(&self.requests[index].id) {
                self.deliver(index, false)?;
            }
        }
        self.check_view()
    }

    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Add { code, crash } => self.fresh(command(Kind::Add, *code), *crash),
            Step::Want { user, crash } => self.fresh(command(Kind::Want, *user), *crash),
            Step::Release { user, crash } => self.fresh(command(Kind::Release, *user), *crash),
            Step::Retire { code, crash } => self.fresh(command(Kind::Retire, *code), *crash),
            Step::Again(pick) if !self.requests.is_empty() => {
                self.deliver(pick % self.requests.len(), false)
            }
            Step::Again(_) => Ok(()),
            Step::LateTake(pick) => self.late_take(*pick),
            Step::LateRetire(pick) => self.late_retire(*pick),
            Step::Contest { user, code, turns } => self.contest(*user, *code, turns),
            Step::Race {
                kind,
                index,
                same,
                turns,
            } => self.race(command(*kind, *index), *same, turns),
        }
    }

    /// A new request, delivered once.
    fn fresh(&mut self, command: Command, crash: bool) -> Result<(), TestCaseError> {
        let index = self.request(command)?;
        self.deliver(index, crash)
    }

    /// Issues a request; the user's crashed request comes back before the user's next one.
    fn request(&mut self, command: Command) -> Result<usize, TestCaseError> {
        let request = Request {
            id: Uuid::from_u128(self.requests.len() as u128 + 1),
            command,
        };
        let waiting = self.requests.iter().position(|earlier| {
            self.pending.contains(&earlier.id)
                && user_of(earlier).is_some()
                && user_of(earlier) == user_of(&request)
        });
        if let Some(index) = waiting {
            self.deliver(index, false)?;
        }
        self.requests.push(request);
        Ok(self.requests.len() - 1)
    }

    fn race(&mut self, command: Command, same: bool, turns: &[bool]) -> Result<(), TestCaseError> {
        let first = self.request(command.clone())?;
        let second = if same { first } else { self.request(command)? };
        self.interleave(first, second, turns)
    }

    /// A locker request and a retirement decided at once: the one free locker (if the retired
    /// one was that) goes to exactly one of them, and neither takes what the other got.
    fn contest(&mut self, user: usize, code: usize, turns: &[bool]) -> Result<(), TestCaseError> {
        let want = self.request(command(Kind::Want, user))?;
        let retire = self.request(command(Kind::Retire, code))?;
        let Command::Request { user } = self.requests[want].command.clone() else {
            unreachable!("a locker request");
        };
        let Command::Retire { code } = self.requests[retire].command.clone() else {
            unreachable!("a retirement");
        };
        let free: Vec<LockerCode> = self
            .store
            .lockers
            .iter()
            .filter(|(_, locker)| locker.holder.is_none() && locker.retired_by.is_none())
            .map(|(code, _)| code.clone())
            .collect();
        let only_free = free == [code.clone()] && self.store.held_by(&user).is_none();
        self.interleave(want, retire, turns)?;
        let outcome = |index: usize| {
            self.store.requests[&self.requests[index].id]
                .outcome
                .clone()
        };
        let (wanted, retired) = (outcome(want), outcome(retire));
        let got_it = wanted.answer == Answer::Assigned && wanted.locker.as_ref() == Some(&code);
        let retired_it = retired.answer == Answer::Retired;
        let context = format!(
            "{wanted:?} and {retired:?}, lockers {:?}",
            self.store.lockers
        );
        prop_assert!(!(got_it && retired_it), "both got {}: {}", code, context);
        if only_free {
            prop_assert!(got_it || retired_it, "neither got {}: {}", code, context);
        }
        Ok(())
    }

    /// Two deliveries (of one request, or of two) decided at once, one store operation at a
    /// time in the order `turns` gives (true: the first).
    fn interleave(
        &mut self,
        first: usize,
        second: usize,
        turns: &[bool],
    ) -> Result<(), TestCaseError> {
        let mut deciders = [first, second].map(|index| {
            let request = self.requests[index].clone();
            (request.id, Some(Decider::new(request)))
        });
        let mut turns = turns
            .iter()
            .copied()
            .chain([true, false].into_iter().cycle());
        while deciders.iter().any(|(_, decider)| decider.is_some()) {
            let mut turn = usize::from(!turns.next().unwrap_or(true));
            if deciders[turn].1.is_none() {
                turn = 1 - turn;
            }
            let (id, slot) = &mut deciders[turn];
            let id = *id;
            let decider = slot.as_mut().expect("a decider still deciding");
            let before = self.store.clone();
            let done = self.store.advance(decider, false);
            self.check_holders(&before)?;
            if let Some(done) = done {
                *slot = None;
                self.published(id, done.published)?;
            }
        }
        for index in [first, second] {
            self.check_stored(&self.requests[index])?;
        }
        Ok(())
    }

    fn deliver(&mut self, index: usize, crash: bool) -> Result<(), TestCaseError> {
        let request = self.requests[index].clone();
        let before = self.store.clone();
        let delivery = self.store.deliver(&request, crash);
        self.check_holders(&before)?;
        match &delivery.decided {
            Some(decision) => self.check_decision(&before, &request, decision)?,
            None => prop_assert_eq!(
                &self.store.lockers,
                &before.lockers,
                "a stored request delivered again changed the lockers"
            ),
        }
        if crash {
            self.pending.insert(request.id);
            return Ok(());
        }
        self.pending.remove(&request.id);
        self.published(request.id, delivery.published)
    }

    fn late_take(&mut self, pick: usize) -> Result<(), TestCaseError> {
        let decided: Vec<usize> = (0..self.requests.len())
            .filter(|&index| {
                let request = &self.requests[index];
                request.command.kind() == RequestKind::Request
                    && self.store.requests.contains_key(&request.id)
            })
            .collect();
        if decided.is_empty() {
            return Ok(());
        }
        let request = self.requests[decided[pick % decided.len()]].clone();
        let Command::Request { user } = &request.command else {
            unreachable!("picked among locker requests");
        };
        let before = self.store.clone();
        self.store
            .run(request.id, &Ask::TakeFree { user: user.clone() });
        let delivery = self.store.deliver(&request, false);
        prop_assert_eq!(
            &self.store.lockers,
            &before.lockers,
            "a late take by {:?} was not undone",
            request
        );
        self.published(request.id, delivery.published)
    }

    /// A decider of a retirement whose claim was taken over (slow, not dead) runs its
    /// conditional update only after the retirement was decided (and the locker perhaps freed
    /// since); the request's next delivery returns the locker to service unless the stored
    /// outcome is that it was retired.
    fn late_retire(&mut self, pick: usize) -> Result<(), TestCaseError> {
        let decided: Vec<usize> = (0..self.requests.len())
            .filter(|&index| {
                let request = &self.requests[index];
                request.command.kind() == RequestKind::Retire
                    && self.store.requests.contains_key(&request.id)
            })
            .collect();
        if decided.is_empty() {
            return Ok(());
        }
        let request = self.requests[decided[pick % decided.len()]].clone();
        let Command::Retire { code } = &request.command else {
            unreachable!("picked among retirements");
        };
        let before = self.store.clone();
        self.store
            .run(request.id, &Ask::Retire { code: code.clone() });
        self.check_holders(&before)?;
        let delivery = self.store.deliver(&request, false);
        prop_assert_eq!(
            &self.store.lockers,
            &before.lockers,
            "a late retirement by {:?} was not undone",
            request
        );
        self.published(request.id, delivery.published)
    }

    /// A repeated request publishes what it published first; the first one reaches
    /// user-service's view.
    fn published(&mut self, id: Uuid, event: Option<OutcomeEvent>) -> Result<(), TestCaseError> {
        if let Some(first) = self.first.get(&id) {
            prop_assert_eq!(first, &event, "request {} published another outcome", id);
            return Ok(());
        }
        self.first.insert(id, event.clone());
        // As user-service applies an outcome (`user-service::domain::decide`).
        let parse = |text: &str| UserName::parse(text).unwrap();
        let code = |text: &str| LockerCode::parse(text).unwrap();
        match event {
            Some(OutcomeEvent::Assigned(assigned)) => {
                self.view
                    .insert(parse(&assigned.user), code(&assigned.code));
            }
            Some(OutcomeEvent::Unavailable(unavailable)) => {
                if let (Unavailability::AlreadyHolds, Some(held)) =
                    (unavailable.reason, &unavailable.held)
                {
                    self.view.insert(parse(&unavailable.user), code(held));
                }
            }
            Some(OutcomeEvent::Released(released)) => {
                let user = parse(&released.user);
                let freed = released.code.as_deref().map(code);
                if freed.is_none() || self.view.get(&user) == freed.as_ref() {
                    self.view.remove(&user);
                }
            }
            None => {}
        }
        Ok(())
    }
}
