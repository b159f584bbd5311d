//! The users read model, as others may query it (locker-app reads it; only user-service
//! writes it).

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use uuid::Uuid;

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
    /// `register`, `delete`, `request`, `release` or `compensation`.
    pub kind: String,
    pub name: String,
    /// None while pending.
    pub outcome: Option<String>,
    pub locker: Option<String>,
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

pub async fn users(pool: &Pool) -> anyhow::Result<Vec<User>> {
    let client = pool.get().await?;
    let rows = client
        .query(&format!("{USER_COLUMNS} ORDER BY name"), &[])
        .await?;
    Ok(rows.iter().map(user).collect())
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
            "SELECT request_id, kind, name, outcome, locker FROM requests WHERE request_id = $1",
            &[&request_id],
        )
        .await?;
    Ok(row.map(|row| Request {
        request_id: row.get(0),
        kind: row.get(1),
        name: row.get(2),
        outcome: row.get(3),
        locker: row.get(4),
    }))
}
