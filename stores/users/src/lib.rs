//! The users read model: only user-service writes it (its users, its request log and its
//! outbox), and locker-app reads users and requests from it.
//!
//! The schema is this crate's `migrations/`, after the shared exactly-once table. Writes stay in
//! user-service's storage; this crate holds the schema, the rows and what readers ask of it,
//! and depends on no service.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use uuid::Uuid;

pub mod read;

refinery::embed_migrations!("migrations");

/// The shared exactly-once table, then the users tables.
pub fn migrations() -> refinery::Runner {
    warren_service_kit::postgres::after_claims(&migrations::runner())
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub locker: Option<String>,
    /// Deletion was asked; it waits for the release of the user's locker.
    pub deleting: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub request_id: Uuid,
    /// `register`, `delete`, `request`, `release`, `compensation` or `promote`.
    pub kind: String,
    pub name: String,
    /// None while pending.
    pub outcome: Option<String>,
    pub locker: Option<String>,
    /// Who asked: the signed-in account, `warren-operator`, or None (before accounts, and the
    /// releases user-service asks for itself).
    pub actor: Option<String>,
}

fn user(row: &tokio_postgres::Row) -> User {
    User {
        name: row.get(0),
        created_at: row.get(1),
        locker: row.get(2),
        deleting: row.get(3),
    }
}

const USER_COLUMNS: &str = "SELECT name, created_at, locker, deleting FROM users";

/// One page of a list in key order, and the key to ask for the page after it (`after`), if
/// there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The first `limit` of `rows` (fetched as `limit + 1` to know whether more follow), with
    /// the key of the last one kept as `next` when more do.
    pub fn of(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Self { items: rows, next }
    }
}

/// The first page of users by name, bytewise (as MongoDB orders the lockers' holders, so that
/// the stores' check can walk both in one order). Keyset pagination on the index
/// `users_by_name_bytewise`: it serves both the order and the start, so a page costs the same
/// at any depth and any table size.
pub const FIRST_USERS: &str = "SELECT name, created_at, locker, deleting FROM users \
     ORDER BY name COLLATE \"C\" LIMIT $1";
/// The page of users after `$1` (the last name of the previous page).
pub const USERS_AFTER: &str = "SELECT name, created_at, locker, deleting FROM users \
     WHERE name COLLATE \"C\" > $1 ORDER BY name COLLATE \"C\" LIMIT $2";

/// Up to `limit` users by name, after the name `after` (from the start without one).
pub async fn users(pool: &Pool, after: Option<&str>, limit: usize) -> anyhow::Result<Page<User>> {
    let client = pool.get().await?;
    let fetch = i64::try_from(limit)?.saturating_add(1);
    let rows = match after {
        None => client.query(FIRST_USERS, &[&fetch]).await?,
        Some(after) => client.query(USERS_AFTER, &[&after, &fetch]).await?,
    };
    Ok(Page::of(
        rows.iter().map(user).collect(),
        limit,
        |user: &User| user.name.clone(),
    ))
}

pub async fn find_user(pool: &Pool, name: &str) -> anyhow::Result<Option<User>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(&format!("{USER_COLUMNS} WHERE name = $1"), &[&name])
        .await?;
    Ok(row.as_ref().map(user))
}

pub async fn request(pool: &Pool, request_id: Uuid) -> anyhow::Result<Option<Request>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT request_id, kind, name, outcome, locker, actor FROM requests \
             WHERE request_id = $1",
            &[&request_id],
        )
        .await?;
    Ok(row.map(|row| Request {
        request_id: row.get(0),
        kind: row.get(1),
        name: row.get(2),
        outcome: row.get(3),
        locker: row.get(4),
        actor: row.get(5),
    }))
}
