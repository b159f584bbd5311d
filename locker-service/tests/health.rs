//! locker-service starts against the real broker and databases and reports itself ready.
#![allow(clippy::unwrap_used)]

use locker_service::configuration::Settings;
use locker_service::startup::{Application, SERVICE};
use warren_messages::topology::DEFAULT_VHOST;

#[tokio::test]
async fn readyz_is_200_once_broker_and_databases_answer() {
    let mut settings: Settings = warren_service_kit::configuration::load_from(
        locker_service::configuration::DEFAULTS,
        Vec::new(),
    )
    .unwrap();
    settings.http.port = 0;
    settings.broker = warren_testkit::broker_settings(SERVICE, DEFAULT_VHOST);
    settings.mongo = warren_testkit::mongo_database();
    let application = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    let status = ready.status();
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    for dependency in ["broker", "mongo"] {
        assert_eq!(body["checks"][dependency], "ok", "{body}");
    }
    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
