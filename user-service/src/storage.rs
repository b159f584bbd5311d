//! The decision's storage in PostgreSQL: reads the [`State`] a command needs inside the batch's
//! transaction, locking the rows the decision rests on, and applies its [`Write`]s there.

use anyhow::Context;
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::domain::{
    self, Answer, Command, Decision, LockerCode, Request, RequestKind, Role, State, User, Write,
};

/// How often one command is decided again because its new user name was taken meanwhile by a
/// concurrent transaction; once that one has committed, the second look sees the name.
const DECISIONS_PER_COMMAND: usize = 3;

/// Decides `command` inside `transaction` and applies the decision's writes; returns the
/// decision, whose events the caller stages with the writes.
pub async fn decide(transaction: &Transaction<'_>, command: &Command) -> anyhow::Result<Decision> {
    for _ in 0..DECISIONS_PER_COMMAND {
        let state = load(transaction, command).await?;
        let decision = domain::decide(&state, command);
        if write(transaction, &decision.writes).await? == Written::Applied {
            return Ok(decision);
        }
    }
    anyhow::bail!(
        "the name {} kept changing hands while it was being registered",
        command.user()
    )
}

/// Reads what `command`'s decision needs. An outcome locks its request's row first, so that two
/// copies of one outcome are decided one after the other; every command then locks the user's
/// row (a missing row locks nothing: [`Write::AddUser`] settles a race for a new name).
async fn load(transaction: &Transaction<'_>, command: &Command) -> anyhow::Result<State> {
    let request = request(transaction, command.request(), command.is_outcome()).await?;
    let name = command.user().as_str();
    let user = transaction
        .query_opt(
            "SELECT locker, deleting, role FROM users WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await?
        .map(|row| -> anyhow::Result<User> {
            Ok(User {
                locker: code(row.get(0))?,
                deleting: row.get(1),
                role: Role::parse(row.get(2)).map_err(anyhow::Error::msg)?,
            })
        })
        .transpose()?;
    Ok(State { request, user })
}

async fn request(
    transaction: &Transaction<'_>,
    request_id: Uuid,
    lock: bool,
) -> anyhow::Result<Option<Request>> {
    let query = if lock {
        "SELECT kind, outcome FROM requests WHERE request_id = $1 FOR UPDATE"
    } else {
        "SELECT kind, outcome FROM requests WHERE request_id = $1"
    };
    let Some(row) = transaction.query_opt(query, &[&request_id]).await? else {
        return Ok(None);
    };
    let kind = RequestKind::parse(row.get(0)).map_err(anyhow::Error::msg)?;
    let answer = row
        .get::<_, Option<&str>>(1)
        .map(Answer::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    Ok(Some(Request { kind, answer }))
}

fn code(stored: Option<String>) -> anyhow::Result<Option<LockerCode>> {
    stored
        .map(LockerCode::parse)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("a stored locker code")
}

/// Whether the writes were applied, or the name to add was taken meanwhile (nothing written).
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Applied,
    NameTakenMeanwhile,
}

/// Applies `writes` in order.
async fn write(transaction: &Transaction<'_>, writes: &[Write]) -> anyhow::Result<Written> {
    for (index, write) in writes.iter().enumerate() {
        match write {
            Write::AddUser {
                name,
                password_hash,
            } => {
                let inserted = transaction
                    .execute(
                        "INSERT INTO users (name, password_hash) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                        &[&name.as_str(), &password_hash.as_str()],
                    )
                    .await?;
                if inserted == 0 {
                    anyhow::ensure!(
                        index == 0,
                        "a user is added only as a decision's first write"
                    );
                    return Ok(Written::NameTakenMeanwhile);
                }
            }
            Write::Record {
                request,
                kind,
                name,
                answer,
                locker,
                actor,
            } => {
                transaction
                    .execute(
                        "INSERT INTO requests \
                             (request_id, kind, name, outcome, locker, actor, decided_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, \
                                 CASE WHEN $4::text IS NULL THEN NULL ELSE now() END) \
                         ON CONFLICT (request_id) DO NOTHING",
                        &[
                            request,
                            &kind.as_str(),
                            &name.as_str(),
                            &answer.map(Answer::as_str),
                            &locker.as_ref().map(LockerCode::as_str),
                            &actor.as_ref().map(|actor| actor.as_str()),
                        ],
                    )
                    .await?;
            }
            Write::Answer {
                request,
                answer,
                locker,
            } => {
                transaction
                    .execute(
                        "UPDATE requests SET outcome = $2, locker = $3, decided_at = now() \
                         WHERE request_id = $1 AND outcome IS NULL",
                        &[
                            request,
                            &answer.as_str(),
                            &locker.as_ref().map(LockerCode::as_str),
                        ],
                    )
                    .await?;
            }
            Write::SetLocker { user, locker } => {
                transaction
                    .execute(
                        "UPDATE users SET locker = $2 WHERE name = $1",
                        &[&user.as_str(), &locker.as_ref().map(LockerCode::as_str)],
                    )
                    .await?;
            }
            Write::MarkDeleting(name) => {
                transaction
                    .execute(
                        "UPDATE users SET deleting = true WHERE name = $1",
                        &[&name.as_str()],
                    )
                    .await?;
            }
            Write::RemoveUser(name) => {
                transaction
                    .execute("DELETE FROM users WHERE name = $1", &[&name.as_str()])
                    .await?;
            }
            Write::Promote(name) => {
                transaction
                    .execute(
                        "UPDATE users SET role = $2 WHERE name = $1",
                        &[&name.as_str(), &Role::Operator.as_str()],
                    )
                    .await?;
            }
        }
    }
    Ok(Written::Applied)
}
