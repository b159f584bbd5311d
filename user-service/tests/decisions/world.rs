//! The whole system in one process: locker-app asking, the broker and the outbox delivering in
//! any order and more than once, claims pruned at any moment, and the properties checked after
//! every step.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proptest::prelude::*;
use user_service::domain::{
    Answer, Command, Forward, LockerCode, RequestKind, Role, UserName, Verdict, decide,
};
use uuid::Uuid;

use crate::stores::{LockerService, Message, Tables};

const USERS: [&str; 3] = ["ada", "bob", "cy"];
const LOCKERS: [&str; 2] = ["A-1", "A-2"];

#[derive(Debug, Clone)]
pub enum Step {
    /// locker-app publishes a new request: 0 register, 1 delete, 2 want, 3 release, 4 promote.
    Ask { kind: u8, user: usize },
    /// user-service takes one of locker-app's requests in flight, in any order.
    ToUsers(usize),
    /// user-service takes the oldest of locker-service's outcomes in flight.
    Outcome,
    /// locker-service takes one of the messages in flight to it, in any order.
    ToLockers(usize),
    /// A message user-service applied arrives again (a redelivery, after its claim was pruned).
    Replay(usize),
    /// The outbox publishes a row again (a crash between the confirm and the delete).
    Republish(usize),
    /// The claims are pruned past their horizon.
    Prune,
}

/// Mostly ada, so that one user's requests meet each other often.
fn user() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0), 1 => 1..USERS.len()]
}

/// Which message in flight goes next: small, so that a failure shrinks toward oldest first.
fn pick() -> impl Strategy<Value = usize> {
    0..4usize
}

pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..5u8, user()).prop_map(|(kind, user)| Step::Ask { kind, user }),
        3 => pick().prop_map(Step::ToUsers),
        3 => Just(Step::Outcome),
        4 => pick().prop_map(Step::ToLockers),
        1 => any::<usize>().prop_map(Step::Replay),
        1 => any::<usize>().prop_map(Step::Republish),
        1 => Just(Step::Prune),
    ]
}

/// The whole system as the properties see it.
#[derive(Default)]
pub struct World {
    tables: Tables,
    claims: BTreeSet<u64>,
    lockers: LockerService,
    to_users: Vec<Message<Command>>,
    outcomes: VecDeque<Message<Command>>,
    to_lockers: Vec<Message<Forward>>,
    applied: Vec<Message<Command>>,
    published: Vec<Message<Forward>>,
    asked: Vec<Uuid>,
    /// What user-service and locker-service did, one line each, for a failure's message.
    history: Vec<String>,
    next_id: u64,
}

fn name(index: usize) -> UserName {
    UserName::parse(USERS[index]).expect("a valid name")
}

impl World {
    pub fn new() -> Self {
        let mut world = Self::default();
        for code in LOCKERS {
            let code = LockerCode::parse(code).expect("a valid code");
            world.lockers.holders.insert(code, None);
        }
        world
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Ask { kind, user } => {
                let request = Uuid::from_u128(u128::from(self.id()));
                let name = name(*user);
                let actor = Some(name.clone());
                let body = match kind {
                    0 => Command::Register {
                        request,
                        name,
                        password_hash: crate::password_hash(),
                    },
                    1 => Command::Delete {
                        request,
                        name,
                        actor,
                    },
                    2 => Command::Want {
                        request,
                        name,
                        actor,
                    },
                    3 => Command::Release {
                        request,
                        name,
                        actor,
                    },
                    _ => Command::Promote {
                        request,
                        name,
                        actor,
                    },
                };
                self.asked.push(request);
                let id = self.id();
                self.to_users.push(Message { id, body });
            }
            Step::ToUsers(pick) if !self.to_users.is_empty() => {
                let message = self.to_users.remove(pick % self.to_users.len());
                self.deliver(message)?;
            }
            Step::Outcome => {
                if let Some(message) = self.outcomes.pop_front() {
                    self.deliver(message)?;
                }
            }
            Step::ToLockers(pick) if !self.to_lockers.is_empty() => {
                let message = self.to_lockers.remove(pick % self.to_lockers.len());
                let outcome = self.lockers.handle(&message.body, &mut self.next_id);
                self.history.push(format!(
                    "locker-service: {:?} => {:?}",
                    message.body, outcome.body
                ));
                self.outcomes.push_back(outcome);
            }
            Step::Replay(pick) if !self.applied.is_empty() => {
                let message = self.applied[pick % self.applied.len()].clone();
                let before = self.tables.clone();
                let decision = decide(&self.tables.load(&message.body), &message.body);
                self.tables.write(&decision.writes);
                prop_assert_eq!(
                    &before,
                    &self.tables,
                    "replaying {:?} changed the tables",
                    message
                );
                prop_assert!(
                    decision.events.is_empty(),
                    "replaying {:?} sent {:?}",
                    message,
                    decision.events
                );
            }
            Step::Republish(pick) if !self.published.is_empty() => {
                let message = self.published[pick % self.published.len()].clone();
                self.to_lockers.push(message);
            }
            Step::Prune => self.claims.clear(),
            _ => {}
        }
        Ok(())
    }

    /// user-service's consumer: claim, decide, write, stage; then the invariants.
    fn deliver(&mut self, message: Message<Command>) -> Result<(), TestCaseError> {
        if !self.claims.insert(message.id) {
            return Ok(());
        }
        let before = self.tables.clone();
        let decision = decide(&self.tables.load(&message.body), &message.body);
        self.tables.write(&decision.writes);
        self.history.push(format!(
            "user-service: {:?} => {:?} {:?}",
            message.body, decision.verdict, decision.writes
        ));
        for forward in decision.events {
            let id = self.id();
            let staged = Message { id, body: forward };
            self.published.push(staged.clone());
            self.to_lockers.push(staged);
        }
        self.applied.push(message.clone());
        self.tables.holders()?;
        // An operator is one whom a recorded promotion made one.
        for (name, user) in &self.tables.users {
            if user.role == Role::Operator {
                prop_assert!(
                    self.tables.requests.values().any(|row| row.name == *name
                        && row.kind == RequestKind::Promote
                        && row.answer == Some(Answer::Promoted)),
                    "{} is an operator without a recorded promotion",
                    name
                );
            }
        }
        // An answer, once recorded, is never changed.
        for (id, row) in &before.requests {
            if row.answer.is_some() {
                prop_assert_eq!(
                    Some(row),
                    self.tables.requests.get(id),
                    "request {} answered twice",
                    id
                );
            }
        }
        if let Command::Released { user, code, .. } = &message.body
            && decision.verdict != Verdict::Copy
        {
            // A release frees exactly the holder's locker, and only the holder's.
            let after = self.tables.users.get(user);
            prop_assert!(code.is_none() || after.and_then(|u| u.locker.as_ref()) != code.as_ref());
            for (other, row) in &before.users {
                if other != user {
                    prop_assert_eq!(
                        Some(row),
                        self.tables.users.get(other),
                        "{}'s release changed {}",
                        user,
                        other
                    );
                }
            }
        }
        Ok(())
    }

    /// Runs `steps`, delivers what is left and checks the settled stores; a failure tells what
    /// happened before it.
    pub fn play(&mut self, steps: &[Step]) -> Result<(), TestCaseError> {
        let played = steps
            .iter()
            .try_for_each(|step| self.run(step))
            .and_then(|()| self.drain())
            .and_then(|()| self.check_settled());
        played.map_err(|failure| {
            TestCaseError::fail(format!("{failure}\nafter:\n{}", self.history.join("\n")))
        })
    }

    /// Delivers everything in flight, oldest first, until nothing is.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        while !(self.to_users.is_empty() && self.to_lockers.is_empty() && self.outcomes.is_empty())
        {
            self.run(&Step::ToLockers(0))?;
            self.run(&Step::Outcome)?;
            self.run(&Step::ToUsers(0))?;
        }
        Ok(())
    }

    /// With nothing in flight: every request is answered, and the two stores agree.
    fn check_settled(&self) -> Result<(), TestCaseError> {
        for request in &self.asked {
            let row = self.tables.requests.get(request);
            prop_assert!(
                row.is_some_and(|row| row.answer.is_some()),
                "request {} unanswered: {:?}",
                request,
                row
            );
        }
        for (id, row) in &self.tables.requests {
            prop_assert!(row.answer.is_some(), "request {} unanswered: {:?}", id, row);
        }
        let held: BTreeMap<LockerCode, UserName> = self
            .lockers
            .holders
            .iter()
            .filter_map(|(code, holder)| Some((code.clone(), holder.clone()?)))
            .collect();
        prop_assert_eq!(
            self.tables.holders()?,
            held,
            "the stores disagree on who holds what"
        );
        for (name, user) in &self.tables.users {
            prop_assert!(!user.deleting, "{} is still being deleted", name);
        }
        Ok(())
    }
}
