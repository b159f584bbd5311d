//! Who is signed in: the browser sessions and the API tokens that locker-app issues, and the
//! failed sign-ins it throttles. Only locker-app writes this database; record-service reads the
//! sessions and tokens to know whether an operator is asking.
//!
//! A session or token is a random 256-bit secret that only its holder has: the database keeps
//! its SHA-256 (`token_hash`), so a copy of the database signs nobody in. Whether a name is an
//! operator is not stored here: it is read from the users read model at every use, so a
//! promotion takes effect at once and a deleted user's sessions and tokens stop working.
//!
//! The schema is this crate's `migrations/`. Writes stay in locker-app (`accounts.rs`); this
//! crate holds the schema, the rows and what readers ask of it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;
pub use warren_store_users::read::Role;

refinery::embed_migrations!("migrations");

/// The accounts tables (no exactly-once claims: no event is applied here).
pub fn migrations() -> refinery::Runner {
    migrations::runner()
}

/// The cookie that carries a browser's session secret (HttpOnly, SameSite=Lax; without a
/// `Domain`, so on one host every port's frontend receives it).
pub const SESSION_COOKIE: &str = "warren_account";

/// Who is asking, as a session or an API token says, with the role the users read model gives
/// their name now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
    /// The session's id, when signed in through a browser (its forms are bound to it).
    pub session: Option<Uuid>,
    /// The API token's id, when a program asks.
    pub token: Option<Uuid>,
}

impl Identity {
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    /// Whether this identity may act for the user `name`: itself, or anyone as an operator.
    pub fn may_act_for(&self, name: &str) -> bool {
        self.name == name || self.is_operator()
    }
}

/// The identity a name has now: its role, if it may sign in at all (it exists, is not being
/// deleted and has a password).
async fn current_identity(
    users: &Pool,
    name: &str,
    session: Option<Uuid>,
    token: Option<Uuid>,
) -> anyhow::Result<Option<Identity>> {
    let account = warren_store_users::read::account(users, name).await?;
    Ok(account
        .filter(|account| !account.deleting && account.password_hash.is_some())
        .map(|account| Identity {
            name: account.name,
            role: account.role,
            session,
            token,
        }))
}

/// The live session of a cookie's `secret` and who it is, if its user may still sign in.
pub async fn identify_session(
    accounts: &Pool,
    users: &Pool,
    secret: &str,
) -> anyhow::Result<Option<(Session, Identity)>> {
    let Some(session) = session(accounts, secret).await? else {
        return Ok(None);
    };
    let identity = current_identity(users, &session.name, Some(session.id), None).await?;
    Ok(identity.map(|identity| (session, identity)))
}

/// Who an API token (`Authorization: Bearer <token>`) acts as: its creator, with the creator's
/// role now, if the token is unrevoked and the creator may still sign in.
pub async fn identify_token(
    accounts: &Pool,
    users: &Pool,
    bearer: &str,
) -> anyhow::Result<Option<Identity>> {
    let Some(token) = api_token(accounts, bearer).await? else {
        return Ok(None);
    };
    current_identity(users, &token.name, None, Some(token.id)).await
}

/// What an API token starts with, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "warren_";

/// A fresh secret: 256 random bits, URL-safe base64 (43 characters).
pub fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh API token: [`TOKEN_PREFIX`] and a secret.
pub fn new_api_token() -> String {
    format!("{TOKEN_PREFIX}{}", new_secret())
}

/// What the database keeps of a secret.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `secret` has the shape of one of ours (43 URL-safe base64 characters, after the
/// prefix for a token): anything else is refused without asking the database.
pub fn well_formed(secret: &str) -> bool {
    secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A live session.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The live session whose cookie secret is `secret`: neither idle nor past its lifetime.
pub async fn session(pool: &Pool, secret: &str) -> anyhow::Result<Option<Session>> {
    if !well_formed(secret) {
        return Ok(None);
    }
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT id, name, created_at, idle_expires_at, expires_at FROM sessions \
             WHERE token_hash = $1 AND idle_expires_at > now() AND expires_at > now()",
            &[&hash(secret)],
        )
        .await?;
    Ok(row.map(|row| Session {
        id: row.get(0),
        name: row.get(1),
        created_at: row.get(2),
        idle_expires_at: row.get(3),
        expires_at: row.get(4),
    }))
}

/// An API token as its list shows it (never its secret, which nobody keeps).
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: Uuid,
    /// Who created it; it acts with their role.
    pub name: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

const TOKEN_COLUMNS: &str =
    "SELECT id, name, label, created_at, revoked_at, revoked_by FROM api_tokens";

fn api_token_row(row: &tokio_postgres::Row) -> ApiToken {
    ApiToken {
        id: row.get(0),
        name: row.get(1),
        label: row.get(2),
        created_at: row.get(3),
        revoked_at: row.get(4),
        revoked_by: row.get(5),
    }
}

/// The unrevoked token whose secret is `bearer` (the whole token, prefix included).
pub async fn api_token(pool: &Pool, bearer: &str) -> anyhow::Result<Option<ApiToken>> {
    let Some(secret) = bearer.strip_prefix(TOKEN_PREFIX) else {
        return Ok(None);
    };
    if !well_formed(secret) {
        return Ok(None);
    }
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("{TOKEN_COLUMNS} WHERE token_hash = $1 AND revoked_at IS NULL"),
            &[&hash(bearer)],
        )
        .await?;
    Ok(row.as_ref().map(api_token_row))
}

/// Up to `limit` tokens, newest first, before the token `before` (from the newest without one),
/// and whether more follow.
pub async fn api_tokens(
    pool: &Pool,
    before: Option<Uuid>,
    limit: usize,
) -> anyhow::Result<(Vec<ApiToken>, bool)> {
    let client = pool.get().await?;
    let fetch = i64::try_from(limit)?.saturating_add(1);
    let rows = match before {
        None => {
            client
                .query(
                    &format!("{TOKEN_COLUMNS} ORDER BY created_at DESC, id DESC LIMIT $1"),
                    &[&fetch],
                )
                .await?
        }
        Some(before) => {
            client
                .query(
                    &format!(
                        "{TOKEN_COLUMNS} WHERE (created_at, id) < \
                         (SELECT created_at, id FROM api_tokens WHERE id = $1) \
                         ORDER BY created_at DESC, id DESC LIMIT $2"
                    ),
                    &[&before, &fetch],
                )
                .await?
        }
    };
    let mut tokens: Vec<ApiToken> = rows.iter().map(api_token_row).collect();
    let more = tokens.len() > limit;
    tokens.truncate(limit);
    Ok((tokens, more))
}

/// How many sign-ins failed for `key` since `since`, and when the oldest of them was.
pub async fn failures_since(
    pool: &Pool,
    key: &str,
    since: DateTime<Utc>,
) -> anyhow::Result<(i64, Option<DateTime<Utc>>)> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*), min(at) FROM sign_in_failures WHERE key = $1 AND at > $2",
            &[&key, &since],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_well_formed_and_kept_only_as_hashes() {
        let (one, two) = (new_secret(), new_secret());
        assert_ne!(one, two);
        assert!(well_formed(&one), "{one}");
        assert_eq!(hash(&one).len(), 32);
        assert_ne!(hash(&one), one.as_bytes());
        let token = new_api_token();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(well_formed(&token[TOKEN_PREFIX.len()..]));
    }

    #[test]
    fn anything_else_is_not_a_secret() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}!", "a".repeat(42)),
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
