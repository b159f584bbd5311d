//! Stand-ins for the two stores: user-service's tables, written as `storage` writes them in SQL,
//! and locker-service, which decides each request once and keeps its outcome.

use std::collections::BTreeMap;

use proptest::prelude::*;
use user_service::domain::{
    Answer, Command, Forward, LockerCode, Request, RequestKind, Role, State, Unavailable, User,
    UserName, Write,
};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: RequestKind,
    pub name: UserName,
    pub answer: Option<Answer>,
    pub locker: Option<LockerCode>,
}

/// user-service's `users` and `requests`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    pub users: BTreeMap<UserName, User>,
    pub requests: BTreeMap<Uuid, Row>,
}

impl Tables {
    pub fn load(&self, command: &Command) -> State {
        let request = self.requests.get(&command.request()).map(|row| Request {
            kind: row.kind,
            answer: row.answer,
        });
        State {
            request,
            user: self.users.get(command.user()).cloned(),
        }
    }

    pub fn write(&mut self, writes: &[Write]) {
        for write in writes {
            match write.clone() {
                Write::AddUser { name, .. } => {
                    let before = self.users.insert(name, User::default());
                    assert!(before.is_none(), "a taken name was added");
                }
                Write::Record {
                    request,
                    kind,
                    name,
                    answer,
                    locker,
                    ..
                } => {
                    let row = Row {
                        kind,
                        name,
                        answer,
                        locker,
                    };
                    self.requests.entry(request).or_insert(row);
                }
                Write::Answer {
                    request,
                    answer,
                    locker,
                } => {
                    if let Some(row) = self.requests.get_mut(&request)
                        && row.answer.is_none()
                    {
                        row.answer = Some(answer);
                        row.locker = locker;
                    }
                }
                Write::SetLocker { user, locker } => {
                    if let Some(row) = self.users.get_mut(&user) {
                        row.locker = locker;
                    }
                }
                Write::MarkDeleting(name) => {
                    if let Some(row) = self.users.get_mut(&name) {
                        row.deleting = true;
                    }
                }
                Write::RemoveUser(name) => {
                    self.users.remove(&name);
                }
                Write::Promote(name) => {
                    if let Some(row) = self.users.get_mut(&name) {
                        row.role = Role::Operator;
                    }
                }
            }
        }
    }

    /// Who holds each locker in user-service's view; fails if two users hold one.
    pub fn holders(&self) -> Result<BTreeMap<LockerCode, UserName>, TestCaseError> {
        let mut holders = BTreeMap::new();
        for (name, user) in &self.users {
            if let Some(code) = &user.locker
                && let Some(other) = holders.insert(code.clone(), name.clone())
            {
                return Err(TestCaseError::fail(format!(
                    "{code} is held by both {other} and {name}"
                )));
            }
        }
        Ok(holders)
    }
}

/// A message on the broker: its id (what claims are keyed by) and what it says.
#[derive(Debug, Clone)]
pub struct Message<T> {
    pub id: u64,
    pub body: T,
}

/// locker-service: lockers and their holders, and each request's stored outcome.
#[derive(Debug, Default)]
pub struct LockerService {
    pub holders: BTreeMap<LockerCode, Option<UserName>>,
    pub stored: BTreeMap<Uuid, Message<Command>>,
}

impl LockerService {
    pub fn held_by(&self, user: &UserName) -> Option<LockerCode> {
        self.holders
            .iter()
            .find(|(_, holder)| holder.as_ref() == Some(user))
            .map(|(code, _)| code.clone())
    }

    /// Decides a request once; a request seen before gets its stored outcome again.
    pub fn handle(&mut self, forward: &Forward, next_id: &mut u64) -> Message<Command> {
        let (Forward::Request { request, user } | Forward::Release { request, user }) = forward;
        if let Some(stored) = self.stored.get(request) {
            return stored.clone();
        }
        let (request, user) = (*request, user.clone());
        let body = match forward {
            Forward::Request { .. } => match self.held_by(&user) {
                Some(held) => Command::Unavailable {
                    request,
                    user,
                    why: Unavailable::AlreadyHolds(Some(held)),
                },
                None => match self.holders.iter_mut().find(|(_, holder)| holder.is_none()) {
                    Some((code, holder)) => {
                        *holder = Some(user.clone());
                        let code = code.clone();
                        Command::Assigned {
                            request,
                            user,
                            code,
                        }
                    }
                    None => Command::Unavailable {
                        request,
                        user,
                        why: Unavailable::NoneFree,
                    },
                },
            },
            Forward::Release { .. } => {
                let code = self.held_by(&user);
                if let Some(code) = &code {
                    self.holders.insert(code.clone(), None);
                }
                Command::Released {
                    request,
                    user,
                    code,
                }
            }
        };
        *next_id += 1;
        let message = Message { id: *next_id, body };
        self.stored.insert(request, message.clone());
        message
    }
}
