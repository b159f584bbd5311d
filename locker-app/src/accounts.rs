//! Who is asking: sign-in, sessions, API tokens and the throttling of failed sign-ins.
//!
//! locker-app is the one writer of the accounts database (`warren_store_accounts`); the users
//! read model (user-service's) holds each account's name, password hash and role. A session is a
//! random secret in an HttpOnly cookie, its SHA-256 a row that ends at sign-out, after
//! `sessions.idle_minutes` without use and `sessions.absolute_hours` after sign-in. Sign-in
//! always makes a new session (the secret a browser had before is worth nothing after), and the
//! role is read at every request, so a promotion or a deletion takes effect at once.
//!
//! Failed sign-ins are counted in the database, per name and per client address, so the limit
//! holds across every instance: past `failures_per_name` (or `failures_per_address`) within the
//! window, the next attempt is refused with 429 and `Retry-After` before its password is even
//! checked. A failure says only that the name or the password was wrong, and takes as long
//! either way.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Deserialize;
use uuid::Uuid;
use warren_service_kit::passwords;
use warren_store_accounts::{self as store, Identity};

/// The cookie that holds a signed-in browser's session secret.
pub const ACCOUNT_COOKIE: &str = store::SESSION_COOKIE;

/// `[sessions]`: lifetimes, the public address and the sign-in throttle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub idle_minutes: u64,
    pub absolute_hours: u64,
    /// Where people reach locker-app; with `https://` the cookie is `Secure`.
    #[serde(default)]
    pub public_url: String,
    pub failures_per_name: i64,
    pub failures_per_address: i64,
    pub failure_window_minutes: u64,
}

impl SessionSettings {
    fn idle(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::try_from(self.idle_minutes).unwrap_or(i64::MAX / 60_000))
    }

    fn absolute(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::try_from(self.absolute_hours).unwrap_or(i64::MAX / 3_600_000))
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::minutes(
            i64::try_from(self.failure_window_minutes).unwrap_or(i64::MAX / 60_000),
        )
    }

    /// Whether cookies must travel over TLS only.
    pub fn secure(&self) -> bool {
        self.public_url
            .trim()
            .to_ascii_lowercase()
            .starts_with("https://")
    }

    /// The settings' own rules, checked at start.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.idle_minutes >= 1 && self.absolute_hours >= 1,
            "sessions.idle_minutes and sessions.absolute_hours must be at least 1"
        );
        anyhow::ensure!(
            self.failures_per_name >= 1
                && self.failures_per_address >= 1
                && self.failure_window_minutes >= 1,
            "sessions.failures_per_name, failures_per_address and failure_window_minutes must \
             be at least 1"
        );
        let url = self.public_url.trim().to_ascii_lowercase();
        anyhow::ensure!(
            url.is_empty() || url.starts_with("http://") || url.starts_with("https://"),
            "sessions.public_url must be an http:// or https:// address, or empty"
        );
        Ok(())
    }
}

/// How often at most a session's idle deadline is pushed on: a busy session costs one write a
/// minute, not one per request.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// What a sign-in came to.
#[derive(Debug)]
pub enum SignIn {
    /// A new session: its cookie secret and the identity it carries.
    SignedIn { secret: String, identity: Identity },
    /// The name or the password was wrong (which of them is not said).
    Refused,
    /// Too many failures for the name or from the address: try again after this long.
    Throttled(Duration),
}

/// What an idempotency key stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyed {
    /// The request to send (again, if the key was used before for the same call).
    Request(Uuid),
    /// The key was used for another call, this request.
    Conflict(Uuid),
}

pub struct Accounts {
    pool: Pool,
    users: Pool,
    settings: SessionSettings,
}

impl Accounts {
    pub fn new(pool: Pool, users: Pool, settings: SessionSettings) -> Self {
        Self {
            pool,
            users,
            settings,
        }
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// The signed-in identity of a session cookie's secret, if it is live and its user may
    /// still sign in; pushes the idle deadline on when it is due.
    pub async fn from_cookie(&self, secret: &str) -> anyhow::Result<Option<Identity>> {
        let Some((session, identity)) =
            store::identify_session(&self.pool, &self.users, secret).await?
        else {
            return Ok(None);
        };
        let idle_deadline = Utc::now() + self.settings.idle();
        if idle_deadline - session.idle_expires_at >= TOUCH_EVERY {
            let client = self.pool.get().await?;
            client
                .execute(
                    "UPDATE sessions SET idle_expires_at = least($2, expires_at) WHERE id = $1",
                    &[&session.id, &idle_deadline],
                )
                .await?;
        }
        Ok(Some(identity))
    }

    /// The identity of an API token (`Authorization: Bearer …`), if it is unrevoked and its
    /// creator may still sign in.
    pub async fn from_bearer(&self, bearer: &str) -> anyhow::Result<Option<Identity>> {
        store::identify_token(&self.pool, &self.users, bearer).await
    }

    /// Checks `name` and `password`, and on success starts a new session.
    pub async fn sign_in(
        &self,
        name: &str,
        password: String,
        address: IpAddr,
    ) -> anyhow::Result<SignIn> {
        let keys = [
            (format!("name:{name}"), self.settings.failures_per_name),
            (
                format!("address:{address}"),
                self.settings.failures_per_address,
            ),
        ];
        let now = Utc::now();
        let since = now - self.settings.window();
        for (key, limit) in &keys {
            let (failures, oldest) = store::failures_since(&self.pool, key, since).await?;
            if failures >= *limit {
                return Ok(SignIn::Throttled(retry_after(oldest, since, now)));
            }
        }
        let account = warren_store_users::read::account(&self.users, name).await?;
        let hash = account
            .as_ref()
            .filter(|account| !account.deleting)
            .and_then(|account| account.password_hash.clone());
        let verified = match hash {
            Some(hash) => passwords::verify_async(password, hash).await,
            None => {
                // As long as a real check, so that the answer's time does not tell whether the
                // name exists.
                passwords::verify_dummy_async(password).await;
                false
            }
        };
        let client = self.pool.get().await?;
        let (Some(account), true) = (account, verified) else {
            for (key, _) in &keys {
                client
                    .execute("INSERT INTO sign_in_failures (key) VALUES ($1)", &[key])
                    .await?;
            }
            // Keep the table to the window.
            client
                .execute("DELETE FROM sign_in_failures WHERE at <= $1", &[&since])
                .await?;
            return Ok(SignIn::Refused);
        };
        let secret = store::new_secret();
        let id = Uuid::new_v4();
        let expires_at = now + self.settings.absolute();
        let idle_expires_at = (now + self.settings.idle()).min(expires_at);
        client
            .execute(
                "INSERT INTO sessions (id, token_hash, name, idle_expires_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &id,
                    &store::hash(&secret),
                    &account.name,
                    &idle_expires_at,
                    &expires_at,
                ],
            )
            .await?;
        client
            .execute("DELETE FROM sign_in_failures WHERE key = $1", &[&keys[0].0])
            .await?;
        // Sessions past their end are of no use to anyone.
        client
            .execute(
                "DELETE FROM sessions WHERE expires_at <= now() OR idle_expires_at <= now()",
                &[],
            )
            .await?;
        tracing::info!(name = %account.name, session = %id, "signed in");
        Ok(SignIn::SignedIn {
            secret,
            identity: Identity {
                name: account.name,
                role: account.role,
                session: Some(id),
                token: None,
            },
        })
    }

    /// Ends the session of this cookie secret (if it is one).
    pub async fn sign_out(&self, secret: &str) -> anyhow::Result<()> {
        let client = self.pool.get().await?;
        let ended = client
            .execute(
                "DELETE FROM sessions WHERE token_hash = $1",
                &[&store::hash(secret)],
            )
            .await?;
        if ended > 0 {
            tracing::info!("signed out");
        }
        Ok(())
    }

    /// Ends every session of `name` (after their account was deleted, say).
    pub async fn end_sessions_of(&self, name: &str) -> anyhow::Result<u64> {
        let client = self.pool.get().await?;
        Ok(client
            .execute("DELETE FROM sessions WHERE name = $1", &[&name])
            .await?)
    }

    /// A new API token for `creator`, labelled `label`: its secret (shown once, kept by nobody)
    /// and its id.
    pub async fn create_token(&self, creator: &str, label: &str) -> anyhow::Result<(String, Uuid)> {
        let token = store::new_api_token();
        let id = Uuid::now_v7();
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO api_tokens (id, token_hash, name, label) VALUES ($1, $2, $3, $4)",
                &[&id, &store::hash(&token), &creator, &label],
            )
            .await?;
        tracing::info!(token = %id, creator, "API token created");
        Ok((token, id))
    }

    /// Revokes the token `id`; false if there is no such unrevoked token.
    pub async fn revoke_token(&self, id: Uuid, by: &str) -> anyhow::Result<bool> {
        let client = self.pool.get().await?;
        let revoked = client
            .execute(
                "UPDATE api_tokens SET revoked_at = now(), revoked_by = $2 \
                 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &by],
            )
            .await?;
        if revoked > 0 {
            tracing::info!(token = %id, by, "API token revoked");
        }
        Ok(revoked > 0)
    }

    /// The request an API call with `Idempotency-Key: key` from `name` is: a new one (`fresh`)
    /// the first time, the first one again when the same call comes again, and a conflict when
    /// the key comes with another call (`call` describes the route and fields; never a
    /// password). Keys are kept for a day.
    pub async fn keyed_request(
        &self,
        name: &str,
        key: Uuid,
        call: &str,
        fresh: Uuid,
    ) -> anyhow::Result<Keyed> {
        let call_hash = store::hash(call);
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM idempotency_keys WHERE created_at < now() - interval '1 day'",
                &[],
            )
            .await?;
        let inserted = client
            .execute(
                "INSERT INTO idempotency_keys (name, key, request_id, body_hash) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&name, &key, &fresh, &call_hash],
            )
            .await?;
        if inserted == 1 {
            return Ok(Keyed::Request(fresh));
        }
        let row = client
            .query_one(
                "SELECT request_id, body_hash FROM idempotency_keys WHERE name = $1 AND key = $2",
                &[&name, &key],
            )
            .await?;
        let (request_id, first_hash): (Uuid, Vec<u8>) = (row.get(0), row.get(1));
        Ok(if first_hash == call_hash {
            Keyed::Request(request_id)
        } else {
            Keyed::Conflict(request_id)
        })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The `Set-Cookie` value that gives a browser the session `secret`.
    pub fn cookie(&self, secret: &str) -> String {
        let max_age = self.settings.absolute_hours.saturating_mul(3600);
        format!(
            "{ACCOUNT_COOKIE}={secret}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
            self.secure_attribute()
        )
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{ACCOUNT_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
            self.secure_attribute()
        )
    }

    fn secure_attribute(&self) -> &'static str {
        if self.settings.secure() {
            "; Secure"
        } else {
            ""
        }
    }
}

/// How long until the oldest failure in the window leaves it (at least a second).
fn retry_after(
    oldest: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Duration {
    let until = oldest.map_or(now, |oldest| oldest + (now - since));
    (until - now)
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(public_url: &str) -> SessionSettings {
        SessionSettings {
            idle_minutes: 30,
            absolute_hours: 12,
            public_url: public_url.into(),
            failures_per_name: 5,
            failures_per_address: 20,
            failure_window_minutes: 15,
        }
    }

    #[test]
    fn cookies_are_secure_exactly_when_the_public_url_is_https() {
        assert!(settings("https://lockers.example.com").secure());
        assert!(settings(" HTTPS://Lockers.example.com").secure());
        assert!(!settings("http://lockers.localhost").secure());
        assert!(!settings("").secure());
        assert!(settings("ftp://x").validate().is_err());
        assert!(settings("").validate().is_ok());
    }

    #[test]
    fn a_throttled_sign_in_waits_until_the_oldest_failure_leaves_the_window() {
        let now = Utc::now();
        let since = now - chrono::Duration::minutes(15);
        let oldest = now - chrono::Duration::minutes(10);
        let wait = retry_after(Some(oldest), since, now);
        assert!((299..=300).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(retry_after(None, since, now), Duration::from_secs(1));
    }
}
