//! user-service's consumer: requests from locker-app and outcomes from locker-service.
//!
//! A batch is one transaction: its message ids are claimed in `applied_messages`, each newly
//! claimed message is applied in order, and the events it causes are staged in the outbox. After
//! the commit the batch is acknowledged and the outbox relay is woken to publish what it staged.
//!
//! Claims are pruned after a horizon, and locker-service re-publishes a request's stored outcome
//! (same `message_id`) whenever the request reaches it again, however late. So each message is
//! also applied once by the state it changes: a request already recorded is not taken again,
//! and an outcome for a request whose outcome is already recorded is a copy without effect.
//!
//! Deleting a user always goes through locker-service (a release first), so a locker the user
//! holds, or is being given at that moment, is freed before the row goes. An assignment that
//! arrives for a user who is gone or going is answered with a release.

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
    DeletionRequested, LockerWanted, RegistrationRequested, ReleaseWanted, validate_name,
};
use warren_messages::{Envelope, Handler, Outcome, exactly_once, one_of};

use crate::outbox::{self, Outgoing};
use crate::startup::SERVICE;

one_of! {
    /// What arrives on user-service's queue.
    pub enum Incoming {
        Register(RegistrationRequested),
        Delete(DeletionRequested),
        Want(LockerWanted),
        Release(ReleaseWanted),
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
            Self::Assigned(e) => e.message_id,
            Self::Unavailable(e) => e.message_id,
            Self::Released(e) => e.message_id,
        }
    }

    fn user(&self) -> &str {
        match self {
            Self::Register(e) => &e.payload.name,
            Self::Delete(e) => &e.payload.name,
            Self::Want(e) => &e.payload.name,
            Self::Release(e) => &e.payload.name,
            Self::Assigned(e) => &e.payload.user,
            Self::Unavailable(e) => &e.payload.user,
            Self::Released(e) => &e.payload.user,
        }
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
        let ids: Vec<Uuid> = batch.iter().map(|message| message.message_id()).collect();
        let claimed = exactly_once::claim(&transaction, CONSUMER, &ids).await?;
        for message in batch {
            if claimed.contains(&message.message_id()) {
                apply(&transaction, message).await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler<Incoming> for UserDesk {
    #[tracing::instrument(skip_all, fields(batch = batch.len()))]
    async fn handle(&self, batch: &[Incoming]) -> Vec<Outcome> {
        apply_valid(
            batch,
            |message| validate_name(message.user()),
            |valid| async move {
                self.apply(&valid).await?;
                self.staged.notify_one();
                Ok(())
            },
        )
        .await
    }
}

/// A user's row, locked for the rest of the transaction.
struct User {
    locker: Option<String>,
    deleting: bool,
}

async fn lock_user(transaction: &Transaction<'_>, name: &str) -> anyhow::Result<Option<User>> {
    let row = transaction
        .query_opt(
            "SELECT locker, deleting FROM users WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await?;
    Ok(row.map(|row| User {
        locker: row.get(0),
        deleting: row.get(1),
    }))
}

/// Whether a request with this id is already recorded: a copy of it has no second effect.
async fn recorded(transaction: &Transaction<'_>, request_id: Uuid) -> anyhow::Result<bool> {
    let row = transaction
        .query_opt(
            "SELECT 1 FROM requests WHERE request_id = $1",
            &[&request_id],
        )
        .await?;
    Ok(row.is_some())
}

/// Whether the request an outcome answers has its outcome recorded already, locking its row so
/// that two copies of one outcome are decided one after the other. Such an outcome is a copy
/// (locker-service sends the stored outcome again when the request is redelivered) and has no
/// effect. An outcome for a request never recorded here is applied as it comes.
async fn answered(transaction: &Transaction<'_>, request_id: Uuid) -> anyhow::Result<bool> {
    let row = transaction
        .query_opt(
            "SELECT outcome IS NOT NULL FROM requests WHERE request_id = $1 FOR UPDATE",
            &[&request_id],
        )
        .await?;
    Ok(row.is_some_and(|row| row.get(0)))
}

/// Records a request; `outcome` None leaves it pending.
async fn record(
    transaction: &Transaction<'_>,
    request_id: Uuid,
    kind: &str,
    name: &str,
    outcome: Option<&str>,
    locker: Option<&str>,
) -> anyhow::Result<()> {
    transaction
        .execute(
            "INSERT INTO requests (request_id, kind, name, outcome, locker, decided_at) \
             VALUES ($1, $2, $3, $4, $5, CASE WHEN $4::text IS NULL THEN NULL ELSE now() END) \
             ON CONFLICT (request_id) DO NOTHING",
            &[&request_id, &kind, &name, &outcome, &locker],
        )
        .await?;
    Ok(())
}

/// Decides a pending request; returns its kind if it was known.
async fn decide(
    transaction: &Transaction<'_>,
    request_id: Uuid,
    outcome: &str,
    locker: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let row = transaction
        .query_opt(
            "UPDATE requests SET outcome = COALESCE(outcome, $2), \
                 locker = CASE WHEN outcome IS NULL THEN $3 ELSE locker END, \
                 decided_at = COALESCE(decided_at, now()) \
             WHERE request_id = $1 RETURNING kind",
            &[&request_id, &outcome, &locker],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

fn release_request<C>(cause: &Envelope<C>, request_id: Uuid, user: &str) -> Outgoing {
    Outgoing::Release(Envelope::caused_by(
        SERVICE,
        LockerReleaseRequested {
            request_id,
            user: user.to_owned(),
        },
        cause,
    ))
}

async fn apply(transaction: &Transaction<'_>, message: &Incoming) -> anyhow::Result<()> {
    let copy = match message {
        Incoming::Register(event) => recorded(transaction, event.payload.request_id).await?,
        Incoming::Delete(event) => recorded(transaction, event.payload.request_id).await?,
        Incoming::Want(event) => recorded(transaction, event.payload.request_id).await?,
        Incoming::Release(event) => recorded(transaction, event.payload.request_id).await?,
        Incoming::Assigned(event) => answered(transaction, event.payload.request_id).await?,
        Incoming::Unavailable(event) => answered(transaction, event.payload.request_id).await?,
        Incoming::Released(event) => answered(transaction, event.payload.request_id).await?,
    };
    if copy {
        tracing::debug!(message_id = %message.message_id(), "already applied by its request; no effect");
        return Ok(());
    }
    match message {
        Incoming::Register(event) => {
            let request = &event.payload;
            let inserted = transaction
                .execute(
                    "INSERT INTO users (name) VALUES ($1) ON CONFLICT DO NOTHING",
                    &[&request.name],
                )
                .await?;
            let outcome = if inserted == 1 {
                "registered"
            } else {
                "name-taken"
            };
            record(
                transaction,
                request.request_id,
                "register",
                &request.name,
                Some(outcome),
                None,
            )
            .await
        }
        Incoming::Delete(event) => {
            let request = &event.payload;
            if lock_user(transaction, &request.name).await?.is_none() {
                return record(
                    transaction,
                    request.request_id,
                    "delete",
                    &request.name,
                    Some("no-such-user"),
                    None,
                )
                .await;
            }
            record(
                transaction,
                request.request_id,
                "delete",
                &request.name,
                None,
                None,
            )
            .await?;
            transaction
                .execute(
                    "UPDATE users SET deleting = true WHERE name = $1",
                    &[&request.name],
                )
                .await?;
            outbox::stage(
                transaction,
                &release_request(event, request.request_id, &request.name),
            )
            .await
        }
        Incoming::Want(event) => {
            let request = &event.payload;
            match lock_user(transaction, &request.name).await? {
                None | Some(User { deleting: true, .. }) => {
                    record(
                        transaction,
                        request.request_id,
                        "request",
                        &request.name,
                        Some("no-such-user"),
                        None,
                    )
                    .await
                }
                Some(User {
                    locker: Some(code), ..
                }) => {
                    record(
                        transaction,
                        request.request_id,
                        "request",
                        &request.name,
                        Some("already-holds"),
                        Some(&code),
                    )
                    .await
                }
                Some(User { locker: None, .. }) => {
                    record(
                        transaction,
                        request.request_id,
                        "request",
                        &request.name,
                        None,
                        None,
                    )
                    .await?;
                    let forward = Envelope::caused_by(
                        SERVICE,
                        LockerRequested {
                            request_id: request.request_id,
                            user: request.name.clone(),
                        },
                        event,
                    );
                    outbox::stage(transaction, &Outgoing::Request(forward)).await
                }
            }
        }
        Incoming::Release(event) => {
            let request = &event.payload;
            match lock_user(transaction, &request.name).await? {
                None | Some(User { deleting: true, .. }) => {
                    record(
                        transaction,
                        request.request_id,
                        "release",
                        &request.name,
                        Some("no-such-user"),
                        None,
                    )
                    .await
                }
                Some(User { locker: None, .. }) => {
                    record(
                        transaction,
                        request.request_id,
                        "release",
                        &request.name,
                        Some("holds-none"),
                        None,
                    )
                    .await
                }
                Some(User {
                    locker: Some(_), ..
                }) => {
                    record(
                        transaction,
                        request.request_id,
                        "release",
                        &request.name,
                        None,
                        None,
                    )
                    .await?;
                    outbox::stage(
                        transaction,
                        &release_request(event, request.request_id, &request.name),
                    )
                    .await
                }
            }
        }
        Incoming::Assigned(event) => {
            let outcome = &event.payload;
            decide(
                transaction,
                outcome.request_id,
                "assigned",
                Some(&outcome.code),
            )
            .await?;
            match lock_user(transaction, &outcome.user).await? {
                Some(User {
                    deleting: false, ..
                }) => {
                    transaction
                        .execute(
                            "UPDATE users SET locker = $2 WHERE name = $1",
                            &[&outcome.user, &outcome.code],
                        )
                        .await?;
                    Ok(())
                }
                // The user is gone or going: give the locker back.
                _ => {
                    let request_id = Uuid::new_v5(&outcome.request_id, b"release-after-deletion");
                    record(
                        transaction,
                        request_id,
                        "compensation",
                        &outcome.user,
                        None,
                        None,
                    )
                    .await?;
                    outbox::stage(
                        transaction,
                        &release_request(event, request_id, &outcome.user),
                    )
                    .await
                }
            }
        }
        Incoming::Unavailable(event) => {
            let outcome = &event.payload;
            decide(
                transaction,
                outcome.request_id,
                outcome.reason.as_str(),
                outcome.held.as_deref(),
            )
            .await?;
            if let (Unavailability::AlreadyHolds, Some(held)) = (outcome.reason, &outcome.held) {
                // locker-service is the authority on who holds what.
                transaction
                    .execute(
                        "UPDATE users SET locker = $2 WHERE name = $1 AND NOT deleting",
                        &[&outcome.user, held],
                    )
                    .await?;
            }
            Ok(())
        }
        Incoming::Released(event) => {
            let outcome = &event.payload;
            transaction
                .execute(
                    "UPDATE users SET locker = NULL WHERE name = $1 \
                     AND ($2::text IS NULL OR locker = $2)",
                    &[&outcome.user, &outcome.code],
                )
                .await?;
            let kind = transaction
                .query_opt(
                    "SELECT kind FROM requests WHERE request_id = $1",
                    &[&outcome.request_id],
                )
                .await?
                .map(|row| row.get::<_, String>(0));
            match kind.as_deref() {
                Some("delete") => {
                    transaction
                        .execute(
                            "DELETE FROM users WHERE name = $1 AND deleting",
                            &[&outcome.user],
                        )
                        .await?;
                    transaction
                        .execute(
                            "UPDATE requests SET outcome = 'deleted', locker = $2, decided_at = now() \
                             WHERE name = $1 AND kind = 'delete' AND outcome IS NULL",
                            &[&outcome.user, &outcome.code],
                        )
                        .await?;
                }
                Some(_) => {
                    let result = if outcome.code.is_some() {
                        "released"
                    } else {
                        "holds-none"
                    };
                    decide(
                        transaction,
                        outcome.request_id,
                        result,
                        outcome.code.as_deref(),
                    )
                    .await?;
                }
                None => {}
            }
            Ok(())
        }
    }
}
