//! Builds vote-service from its settings: the ballot, the vote endpoint and the results.

use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use secrecy::ExposeSecret;
use warren_messages::{Broker, Publisher};
use warren_service_kit::{
    Application,
    ops::{self, Readiness},
    postgres,
};

use crate::configuration::Settings;
use crate::csrf::Csrf;
use crate::domain::Poll;
use crate::live;
use crate::routes::{self, State};

/// The service's name: its broker user, connection name and log field.
pub const SERVICE: &str = "vote-service";

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    ops::install_metrics();
    let poll = Arc::new(Poll::new(
        &settings.poll.id,
        &settings.poll.question,
        &settings.poll.options,
    )?);
    let broker = Arc::new(Broker::new(settings.broker.clone(), SERVICE)?);
    let pool = postgres::pool(&settings.postgres)?;
    let secret = settings.web.csrf_secret.expose_secret().as_bytes().to_vec();
    let csrf = if secret.is_empty() {
        tracing::warn!(
            "web.csrf_secret is empty: using a random one (instances will not share tokens)"
        );
        let mut random = [0_u8; 32];
        rand::rng().fill_bytes(&mut random);
        Csrf::new(&random)
    } else {
        Csrf::new(&secret)
    };
    let (sender, live) = live::channel();
    let state = Arc::new(State {
        poll: poll.clone(),
        publisher: Publisher::new(broker.clone()),
        pool: pool.clone(),
        csrf,
        live,
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        max_body_bytes: settings.web.max_body_bytes,
    });
    let every = Duration::from_millis(settings.web.results_refresh_ms);
    let refresher_pool = pool.clone();
    Ok(Application::bind(
        SERVICE,
        &settings.http,
        broker,
        Readiness::new().with_postgres(pool),
    )
    .await?
    .with_routes(routes::routes(state))
    .with_task(move |stopping| live::refresh(refresher_pool, poll, every, sender, stopping)))
}
