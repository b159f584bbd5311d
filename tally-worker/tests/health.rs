//! tally-worker starts against the real broker and databases and reports itself ready.
#![allow(clippy::unwrap_used)]

use tally_worker::configuration::{DEFAULTS, Settings};
use tally_worker::startup::{SERVICE, build};
use warren_messages::topology::TALLY_VOTES;

#[tokio::test]
async fn readyz_is_200_once_broker_and_databases_answer() {
    let mut settings: Settings = warren_testkit::settings(DEFAULTS);
    let vhost = warren_testkit::vhost_with(&[TALLY_VOTES]).await;
    settings.broker = warren_testkit::broker_settings(SERVICE, &vhost);
    settings.postgres = warren_testkit::postgres_database().await;
    let application = build(settings).await.unwrap();
    warren_testkit::assert_ready(application, &["broker", "postgres"]).await;
}
