//! What a decision takes: the command, validated, and the state it needs, as plain values.

use uuid::Uuid;

use super::names::{Answer, LockerCode, PasswordHash, RequestKind, Role, UserName};

/// What arrives, validated: a request from locker-app or an outcome from locker-service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Register {
        request: Uuid,
        name: UserName,
        password_hash: PasswordHash,
    },
    Delete {
        request: Uuid,
        name: UserName,
        actor: Option<UserName>,
    },
    Want {
        request: Uuid,
        name: UserName,
        actor: Option<UserName>,
    },
    Release {
        request: Uuid,
        name: UserName,
        actor: Option<UserName>,
    },
    /// Make `name` an operator.
    Promote {
        request: Uuid,
        name: UserName,
        actor: Option<UserName>,
    },
    Assigned {
        request: Uuid,
        user: UserName,
        code: LockerCode,
    },
    Unavailable {
        request: Uuid,
        user: UserName,
        why: Unavailable,
    },
    Released {
        request: Uuid,
        user: UserName,
        /// The locker freed; None if the user held none.
        code: Option<LockerCode>,
    },
}

/// Why locker-service gave no locker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    NoneFree,
    /// The user already holds a locker, named when locker-service said which.
    AlreadyHolds(Option<LockerCode>),
}

impl Command {
    /// The request this command asks or answers.
    pub fn request(&self) -> Uuid {
        match self {
            Self::Register { request, .. }
            | Self::Delete { request, .. }
            | Self::Want { request, .. }
            | Self::Release { request, .. }
            | Self::Promote { request, .. }
            | Self::Assigned { request, .. }
            | Self::Unavailable { request, .. }
            | Self::Released { request, .. } => *request,
        }
    }

    /// The user it is about.
    pub fn user(&self) -> &UserName {
        match self {
            Self::Register { name, .. }
            | Self::Delete { name, .. }
            | Self::Want { name, .. }
            | Self::Release { name, .. }
            | Self::Promote { name, .. } => name,
            Self::Assigned { user, .. }
            | Self::Unavailable { user, .. }
            | Self::Released { user, .. } => user,
        }
    }

    /// The signed-in account that asked, for a request that says so.
    pub fn actor(&self) -> Option<&UserName> {
        match self {
            Self::Delete { actor, .. }
            | Self::Want { actor, .. }
            | Self::Release { actor, .. }
            | Self::Promote { actor, .. } => actor.as_ref(),
            _ => None,
        }
    }

    /// Whether it is locker-service's answer to a request (rather than a request).
    pub fn is_outcome(&self) -> bool {
        matches!(
            self,
            Self::Assigned { .. } | Self::Unavailable { .. } | Self::Released { .. }
        )
    }
}

/// What the decision needs to know, read in the transaction that applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The request recorded under the command's request id, if any.
    pub request: Option<Request>,
    /// The user the command names, if registered.
    pub user: Option<User>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: RequestKind,
    /// None while pending.
    pub answer: Option<Answer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub locker: Option<LockerCode>,
    /// Deletion was asked; it waits for the release of the user's locker.
    pub deleting: bool,
    pub role: Role,
}
