//! The first operator (the `warren-operator` binary): creates a user who is an operator with
//! the given password, or makes an existing user an operator and sets that password, and
//! records it in `requests` (actor `warren-operator`). Running it again with the same name and
//! password changes nothing and records nothing, so scripts/up and Compose run it at every
//! start.
//!
//! It writes user-service's tables directly (it is user-service's own tool, logging in as
//! user-service's role, after user-service's migrations): there is no one to send an event to
//! before the first operator exists, and locker-app, the producer of user events, needs a
//! signed-in operator to ask for a promotion.

use anyhow::Context;
use deadpool_postgres::{GenericClient, Pool};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;
use warren_service_kit::{passwords, postgres};

use crate::configuration::Settings;
use crate::domain::{Answer, RequestKind, Role, UserName};

/// Who the requests it records name as having asked.
pub const ACTOR: &str = "warren-operator";
/// The variable the password is read from (else standard input; never an argument).
pub const PASSWORD_VARIABLE: &str = warren_manifest::OPERATOR_PASSWORD;
/// The operator's name unless `--name` says otherwise.
pub const DEFAULT_NAME: &str = warren_manifest::OPERATOR;

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    /// A new user, an operator.
    Created,
    /// A member, now an operator with the new password.
    Promoted,
    /// Already an operator; the password is the new one.
    PasswordSet,
    /// Already an operator with this password: nothing written.
    Unchanged,
}

impl Made {
    /// How the run is recorded in `requests`, if it wrote anything.
    fn recorded_as(self) -> Option<(RequestKind, Answer)> {
        match self {
            Self::Created => Some((RequestKind::Register, Answer::Registered)),
            Self::Promoted => Some((RequestKind::Promote, Answer::Promoted)),
            Self::PasswordSet => Some((RequestKind::Promote, Answer::AlreadyOperator)),
            Self::Unchanged => None,
        }
    }

    pub fn describe(self, name: &UserName) -> String {
        match self {
            Self::Created => format!("created the operator {name}"),
            Self::Promoted => format!("{name} is now an operator, with the new password"),
            Self::PasswordSet => format!("{name} was an operator already; the password is set"),
            Self::Unchanged => format!("{name} is an operator with this password already"),
        }
    }
}

/// Brings user-service's database to its schema (its migrations, then its readers' grants, as
/// user-service does at start), then makes `name` an operator with `password`.
pub async fn set_up(
    settings: &Settings,
    name: &UserName,
    password: &SecretString,
) -> anyhow::Result<Made> {
    passwords::check(password.expose_secret())?;
    let pool = postgres::pool(&settings.postgres)?;
    postgres::migrate(&pool, warren_store_users::migrations()).await?;
    let owned = warren_manifest::USER_SERVICE
        .postgres
        .iter()
        .find(|used| used.access == warren_manifest::Access::Owner)
        .context("the manifest gives user-service no database of its own")?;
    postgres::grant_readers(&pool, &owned.database).await?;
    ensure(&pool, name, password).await
}

/// Makes `name` an operator with `password` in a migrated database.
pub async fn ensure(pool: &Pool, name: &UserName, password: &SecretString) -> anyhow::Result<Made> {
    passwords::check(password.expose_secret())?;
    let mut client = pool.get().await.context("no PostgreSQL connection")?;
    if let Some((hash, role, _)) = current(&client, name).await?
        && role == Role::Operator
        && let Some(hash) = hash
        && passwords::verify_async(password.expose_secret().to_owned(), hash).await
    {
        return Ok(Made::Unchanged);
    }
    let hash = passwords::hash_async(password.expose_secret().to_owned()).await?;
    let transaction = client.transaction().await?;
    let before = current(&transaction, name).await?;
    if let Some((_, _, true)) = before {
        anyhow::bail!(
            "the user {name} is being deleted: run warren-operator again once the deletion is \
             done, or give another --name"
        );
    }
    let inserted: bool = transaction
        .query_one(
            "INSERT INTO users (name, password_hash, role) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE \
                 SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role \
             RETURNING xmax = 0",
            &[&name.as_str(), &hash, &Role::Operator.as_str()],
        )
        .await
        .context("writing the operator's row")?
        .get(0);
    let made = match before {
        _ if inserted => Made::Created,
        Some((_, Role::Operator, _)) => Made::PasswordSet,
        _ => Made::Promoted,
    };
    if let Some((kind, answer)) = made.recorded_as() {
        transaction
            .execute(
                "INSERT INTO requests (request_id, kind, name, outcome, actor, decided_at) \
                 VALUES ($1, $2, $3, $4, $5, now())",
                &[
                    &Uuid::now_v7(),
                    &kind.as_str(),
                    &name.as_str(),
                    &answer.as_str(),
                    &ACTOR,
                ],
            )
            .await
            .context("recording the operator's request")?;
    }
    transaction.commit().await?;
    Ok(made)
}

/// The user's hash, role and deletion mark, the row locked inside a transaction.
async fn current(
    client: &impl GenericClient,
    name: &UserName,
) -> anyhow::Result<Option<(Option<String>, Role, bool)>> {
    let row = client
        .query_opt(
            "SELECT password_hash, role, deleting FROM users WHERE name = $1 FOR UPDATE",
            &[&name.as_str()],
        )
        .await?;
    row.map(|row| {
        let role = Role::parse(row.get(1)).map_err(anyhow::Error::msg)?;
        Ok((row.get(0), role, row.get(2)))
    })
    .transpose()
}
