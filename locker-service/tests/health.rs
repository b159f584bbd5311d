//! locker-service starts against the real broker and databases and reports itself ready.
#![allow(clippy::unwrap_used)]

use locker_service::configuration::{DEFAULTS, Settings};
use locker_service::startup::{SERVICE, build};
use warren_messages::topology::DEFAULT_VHOST;

#[tokio::test]
async fn readyz_is_200_once_broker_and_databases_answer() {
    let mut settings: Settings = warren_testkit::settings(DEFAULTS);
    settings.broker = warren_testkit::broker_settings(SERVICE, DEFAULT_VHOST);
    settings.mongo = warren_testkit::mongo_database();
    let application = build(settings).await.unwrap();
    warren_testkit::assert_ready(application, &["broker", "mongo"]).await;
}
