//! Builds locker-app from its settings: the forms, the status pages and the reconcile check.

use std::sync::Arc;

use warren_messages::Publisher;
use warren_service_kit::web::{Attempts, Csrf};
use warren_service_kit::{Application, Startup};

use crate::accounts::Accounts;
use crate::configuration::Settings;
use crate::routes::{self, State};

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = warren_manifest::LOCKER_APP.name;

/// Connects what it needs lazily and binds the HTTP listener (port 0 picks a free one).
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut start = Startup::new(SERVICE, &settings)?;
    settings.sessions.validate()?;
    let users = start.postgres(&settings.postgres)?;
    let lockers = start.mongo(&settings.mongo).await?;
    let accounts = start
        .owned_postgres(&settings.accounts, warren_store_accounts::migrations())
        .await?;
    let csrf = Csrf::from_settings(&settings.web.csrf_secret, "warren-lockers")?;
    let state = Arc::new(State {
        accounts: Accounts::new(accounts, users.clone(), settings.sessions.clone()),
        users,
        lockers,
        publisher: Publisher::new(start.broker()),
        attempts: Attempts::new(csrf.with_purpose("warren-locker-attempt")),
        csrf,
        links: Csrf::from_settings(&settings.web.csrf_secret, "warren-locker-request")?,
        max_body_bytes: settings.web.max_body_bytes,
        trusted_proxies: settings.http.trusted_proxies.clone(),
    });
    Ok(start
        .bind()
        .await?
        .with_routes(routes::routes(state))
        .with_route_templates(ROUTE_TEMPLATES))
}

/// The public routes' paths, which label the request metrics.
const ROUTE_TEMPLATES: &[&str] = &[
    "/",
    "/register",
    "/delete",
    "/request",
    "/release",
    "/promote",
    "/sign-in",
    "/sign-out",
    "/users",
    "/lockers",
    "/lockers/retire",
    "/tokens",
    "/tokens/:id/revoke",
    "/requests/:id",
    "/static/:asset",
    "/api/users",
    "/api/users/:name/locker-requests",
    "/api/lockers",
    "/api/lockers/:code",
    "/api/requests/:id",
    "/api/reconcile",
];
