//! locker-app's accounts as record-service sees them: a users database migrated as
//! user-service migrates it and an accounts database migrated as locker-app migrates it, each
//! granting record-service its reads, and rows written exactly as user-service and locker-app
//! write them (a user with a role; a session or API token stored as the hash of a fresh secret).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;
use warren_manifest::{ACCOUNTS_DB, LOCKER_APP, RECORD_SERVICE, USER_SERVICE, USERS_DB};
use warren_service_kit::postgres::{self, PostgresSettings, grant_readers, migrate};
use warren_store_accounts::{Role, SESSION_COOKIE, hash, new_api_token, new_secret};
use warren_testkit::TestDatabase;

pub struct Accounts {
    pub users_database: TestDatabase,
    pub accounts_database: TestDatabase,
    /// As user-service, the users' writer.
    users: Pool,
    /// As locker-app, the accounts' writer.
    accounts: Pool,
}

impl Accounts {
    /// Fresh users and accounts databases with their owners' schemas, readable by
    /// record-service.
    pub async fn create() -> Self {
        let users_database = TestDatabase::create(USERS_DB).await;
        let accounts_database = TestDatabase::create(ACCOUNTS_DB).await;
        let users = postgres::pool(&users_database.as_service(&USER_SERVICE)).unwrap();
        migrate(&users, warren_store_users::migrations())
            .await
            .unwrap();
        grant_readers(&users, &USERS_DB).await.unwrap();
        let accounts = postgres::pool(&accounts_database.as_service(&LOCKER_APP)).unwrap();
        migrate(&accounts, warren_store_accounts::migrations())
            .await
            .unwrap();
        grant_readers(&accounts, &ACCOUNTS_DB).await.unwrap();
        Self {
            users_database,
            accounts_database,
            users,
            accounts,
        }
    }

    /// record-service's settings for the users database.
    pub fn users_settings(&self) -> PostgresSettings {
        self.users_database.as_service(&RECORD_SERVICE)
    }

    /// record-service's settings for the accounts database.
    pub fn accounts_settings(&self) -> PostgresSettings {
        self.accounts_database.as_service(&RECORD_SERVICE)
    }

    /// A user who may sign in, with `role`.
    pub async fn user(&self, name: &str, role: Role) {
        self.users
            .get()
            .await
            .unwrap()
            .execute(
                "INSERT INTO users (name, password_hash, role) VALUES ($1, $2, $3)",
                &[
                    &name,
                    &"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                    &role.as_str(),
                ],
            )
            .await
            .unwrap();
    }

    /// Makes `name` an operator, as a promotion does.
    pub async fn promote(&self, name: &str) {
        self.users
            .get()
            .await
            .unwrap()
            .execute(
                "UPDATE users SET role = 'operator' WHERE name = $1",
                &[&name],
            )
            .await
            .unwrap();
    }

    /// A session of `name` that ends `lifetime` from now (in the past: already ended); its
    /// cookie's secret.
    async fn session_ending(&self, name: &str, lifetime: Duration) -> String {
        let secret = new_secret();
        let ends = Utc::now() + lifetime;
        self.accounts
            .get()
            .await
            .unwrap()
            .execute(
                "INSERT INTO sessions (id, token_hash, name, idle_expires_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&Uuid::new_v4(), &hash(&secret), &name, &ends, &ends],
            )
            .await
            .unwrap();
        secret
    }

    /// A live session of `name`: its cookie's secret.
    pub async fn session(&self, name: &str) -> String {
        self.session_ending(name, Duration::minutes(30)).await
    }

    /// A session of `name` that has ended (past its idle deadline).
    pub async fn expired_session(&self, name: &str) -> String {
        self.session_ending(name, Duration::minutes(-1)).await
    }

    /// An API token created by `name`, revoked if `revoked`.
    async fn api_token(&self, name: &str, revoked: bool) -> String {
        let token = new_api_token();
        let revoked_at = revoked.then(Utc::now);
        self.accounts
            .get()
            .await
            .unwrap()
            .execute(
                "INSERT INTO api_tokens (id, token_hash, name, label, revoked_at, revoked_by) \
                 VALUES ($1, $2, $3, 'test', $4, $5)",
                &[
                    &Uuid::new_v4(),
                    &hash(&token),
                    &name,
                    &revoked_at,
                    &revoked.then_some(name),
                ],
            )
            .await
            .unwrap();
        token
    }

    /// A live API token of `name`.
    pub async fn token(&self, name: &str) -> String {
        self.api_token(name, false).await
    }

    /// An API token of `name` that has been revoked.
    pub async fn revoked_token(&self, name: &str) -> String {
        self.api_token(name, true).await
    }
}

/// A browser (keeps cookies, follows no redirect) holding locker-app's session cookie with
/// `secret`, as a sign-in at locker-app on the same host as `base` leaves it.
pub fn browser_signed_in(base: &str, secret: &str) -> reqwest::Client {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(
        &format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax"),
        &base.parse().unwrap(),
    );
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
