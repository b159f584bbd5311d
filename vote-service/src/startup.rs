//! Builds vote-service from its settings: the ballot, the vote endpoint and the results.

use std::sync::Arc;
use std::time::Duration;

use warren_messages::Publisher;
use warren_service_kit::{Application, Startup};

use crate::clock::Clock;
use crate::configuration::Settings;
use crate::domain::Poll;
use crate::live;
use crate::routes::{self, State};
use warren_service_kit::limits::Limiter;
use warren_service_kit::web::{Attempts, Csrf};

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = warren_manifest::VOTE_SERVICE.name;

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut start = Startup::new(SERVICE, &settings)?;
    let poll = Arc::new(Poll::new(
        &settings.poll.id,
        &settings.poll.question,
        &settings.poll.options,
    )?);
    let pool = start.postgres(&settings.postgres)?;
    let csrf = Csrf::from_settings(&settings.web.csrf_secret, "warren-vote")?;
    let attempts = Attempts::new(csrf.with_purpose("warren-vote-attempt"));
    let voter_log = csrf.with_purpose("warren-vote-log");
    settings.vote_limit.validate("vote_limit")?;
    let (sender, live) = live::channel();
    let state = Arc::new(State {
        poll: poll.clone(),
        publisher: Publisher::new(start.broker()),
        pool: pool.clone(),
        csrf,
        attempts,
        voter_log,
        clock: Clock::with_offset_ms(settings.clock.offset_ms)?,
        live,
        streams: live::Streams::new(settings.results.max_streams),
        vote_limit: Limiter::new(settings.vote_limit),
        clients: settings.http.trusted_proxies.clone(),
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        max_body_bytes: settings.web.max_body_bytes,
    });
    let every = Duration::from_millis(settings.web.results_refresh_ms);
    Ok(start
        .bind()
        .await?
        .with_routes(routes::routes(state))
        .with_route_templates(&[
            "/",
            "/vote",
            "/results",
            "/results/stream",
            "/api/results",
            "/static/:asset",
        ])
        .with_task(move |stopping| live::refresh(pool, poll, every, sender, stopping)))
}
