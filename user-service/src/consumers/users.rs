//! user-service's consumer: requests from locker-app and outcomes from locker-service.
//!
//! A batch is one transaction: its message ids are claimed in `applied_messages`, and each newly
//! claimed message is turned into a [`Command`], decided by `domain::decide` against the state
//! `storage` reads (locking the rows it rests on), and its writes are applied and its events
//! staged in the outbox. After the commit the batch is acknowledged and the outbox relay is woken
//! to publish what it staged.
//!
//! Claims are pruned after a horizon, and locker-service re-publishes a request's stored outcome
//! (same `message_id`) whenever the request reaches it again, however late. So each message is
//! also applied once by the state it changes: the decision treats a request already recorded,
//! and an outcome for a request already answered, as a copy without effect.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_postgres::Transaction;
use uuid::Uuid;
use warren_messages::consumer::apply_valid;
use warren_messages::events::lockers::{
    LockerAssigned, LockerReleaseRequested, LockerReleased, LockerRequested, LockerUnavailable,
    Unavailability,
};
use warren_messages::events::users::{
    DeletionRequested, LockerWanted, PromotionRequested, RegistrationRequested, ReleaseWanted,
};
use warren_messages::{Envelope, Handler, Outcome, exactly_once, one_of};

use crate::domain::{Command, Forward, LockerCode, PasswordHash, Unavailable, UserName, Verdict};
use crate::outbox::{self, Outgoing};
use crate::startup::SERVICE;
use crate::storage;

one_of! {
    /// What arrives on user-service's queue.
    pub enum Incoming {
        Register(RegistrationRequested),
        Delete(DeletionRequested),
        Want(LockerWanted),
        Release(ReleaseWanted),
        Promote(PromotionRequested),
        Assigned(LockerAssigned),
        Unavailable(LockerUnavailable),
        Released(LockerReleased),
    }
}

impl Incoming {
    fn message_id(&self) -> Uuid {
        match self {
            Self::Register(e) => e.message_id,
            Self::Delete(e) => e.message_id,
            Self::Want(e) => e.message_id,
            Self::Release(e) => e.message_id,
            Self::Promote(e) => e.message_id,
            Self::Assigned(e) => e.message_id,
            Self::Unavailable(e) => e.message_id,
            Self::Released(e) => e.message_id,
        }
    }

    /// The message as a command, or why it is not a valid one (then it is poison).
    fn command(&self) -> Result<Command, String> {
        let name = UserName::parse;
        let code = LockerCode::parse;
        let actor = |actor: &Option<String>| actor.clone().map(UserName::parse).transpose();
        Ok(match self {
            Self::Register(e) => Command::Register {
                request: e.payload.request_id,
                name: name(e.payload.name.as_str())?,
                password_hash: PasswordHash::parse(e.payload.password_hash.as_str())?,
            },
            Self::Delete(e) => Command::Delete {
                request: e.payload.request_id,
                name: name(e.payload.name.as_str())?,
                actor: actor(&e.payload.actor)?,
            },
            Self::Want(e) => Command::Want {
                request: e.payload.request_id,
                name: name(e.payload.name.as_str())?,
                actor: actor(&e.payload.actor)?,
            },
            Self::Release(e) => Command::Release {
                request: e.payload.request_id,
                name: name(e.payload.name.as_str())?,
                actor: actor(&e.payload.actor)?,
            },
            Self::Promote(e) => Command::Promote {
                request: e.payload.request_id,
                name: name(e.payload.name.as_str())?,
                actor: actor(&e.payload.actor)?,
            },
            Self::Assigned(e) => Command::Assigned {
                request: e.payload.request_id,
                user: name(e.payload.user.as_str())?,
                code: code(e.payload.code.as_str())?,
            },
            Self::Unavailable(e) => Command::Unavailable {
                request: e.payload.request_id,
                user: name(e.payload.user.as_str())?,
                why: match e.payload.reason {
                    Unavailability::NoneFree => Unavailable::NoneFree,
                    Unavailability::AlreadyHolds => {
                        Unavailable::AlreadyHolds(e.payload.held.as_deref().map(code).transpose()?)
                    }
                },
            },
            Self::Released(e) => Command::Released {
                request: e.payload.request_id,
                user: name(e.payload.user.as_str())?,
                code: e.payload.code.as_deref().map(code).transpose()?,
            },
        })
    }

    /// `forward` as an event caused by this message.
    fn cause(&self, forward: &Forward) -> Outgoing {
        match self {
            Self::Register(e) => outgoing(e, forward),
            Self::Delete(e) => outgoing(e, forward),
            Self::Want(e) => outgoing(e, forward),
            Self::Release(e) => outgoing(e, forward),
            Self::Promote(e) => outgoing(e, forward),
            Self::Assigned(e) => outgoing(e, forward),
            Self::Unavailable(e) => outgoing(e, forward),
            Self::Released(e) => outgoing(e, forward),
        }
    }
}

fn outgoing<C>(cause: &Envelope<C>, forward: &Forward) -> Outgoing {
    match forward {
        Forward::Request { request, user } => Outgoing::Request(Envelope::caused_by(
            SERVICE,
            LockerRequested {
                request_id: *request,
                user: user.to_string(),
            },
            cause,
        )),
        Forward::Release { request, user } => Outgoing::Release(Envelope::caused_by(
            SERVICE,
            LockerReleaseRequested {
                request_id: *request,
                user: user.to_string(),
            },
            cause,
        )),
    }
}

/// The name under which this consumer claims message ids.
const CONSUMER: &str = "user-service";

pub struct UserDesk {
    pool: Pool,
    /// Wakes the outbox relay after a commit.
    staged: Arc<Notify>,
}

impl UserDesk {
    pub fn new(pool: Pool, staged: Arc<Notify>) -> Self {
        Self { pool, staged }
    }

    async fn apply(&self, batch: &[&Incoming]) -> anyhow::Result<()> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        exactly_once::apply_batch(transaction, CONSUMER, batch, Incoming::message_id, apply).await
    }
}

#[async_trait::async_trait]
impl Handler<Incoming> for UserDesk {
    #[tracing::instrument(skip_all, fields(batch = batch.len()))]
    async fn handle(&self, batch: &[Incoming]) -> Vec<Outcome> {
        apply_valid(
            batch,
            |message| message.command().map(drop),
            |valid| async move {
                self.apply(&valid).await?;
                self.staged.notify_one();
                Ok(())
            },
        )
        .await
    }
}

/// Decides one message in the batch's transaction, writes what the decision says and stages
/// its events.
async fn apply(transaction: &Transaction<'_>, message: &Incoming) -> anyhow::Result<()> {
    let command = message.command().map_err(anyhow::Error::msg)?;
    let decision = storage::decide(transaction, &command).await?;
    if decision.verdict == Verdict::Copy {
        tracing::debug!(message_id = %message.message_id(), "already applied by its request; no effect");
    }
    for forward in &decision.events {
        outbox::stage(transaction, &message.cause(forward)).await?;
    }
    Ok(())
}
