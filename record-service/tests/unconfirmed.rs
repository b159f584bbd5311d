//! A Record whose confirm does not come in time is reported as what it is, unknown (it may
//! have been made), not as "nothing was changed"; pressing Record again keeps one record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use warren_messages::topology::RECORD_SERVICE_RECORDS;
use warren_testkit::proxy::{FaultProxy, Link};
use warren_testkit::{
    amqp_nodes, broker_settings, eventually, postgres_database, spawn, vhost_with,
};

use warren_testkit::web::{browser, page};

use common::{StandIn, press_record, weather_settings};

#[tokio::test]
async fn an_unconfirmed_record_may_have_been_made_and_recording_again_keeps_one() {
    let node = amqp_nodes()[0].trim_start_matches("amqp://").to_owned();
    let proxy = FaultProxy::start(node).await;
    let stand_in = StandIn::start(false).await;
    let vhost = vhost_with(&[RECORD_SERVICE_RECORDS]).await;
    let mut settings: record_service::configuration::Settings =
        warren_testkit::settings(record_service::configuration::DEFAULTS);
    settings.broker = broker_settings("record-service", &vhost);
    settings.broker.nodes = vec![format!("amqp://{}", proxy.address())];
    settings.broker.confirm_timeout_ms = 1_500;
    settings.postgres = postgres_database().await;
    settings.weather = weather_settings(&stand_in.url, 2_000);
    let service = spawn(record_service::startup::build(settings).await.unwrap());
    let base = service.url("");
    let client = browser();
    // A first record opens the connection through the proxy.
    let paris = page(&client, &format!("{base}/?city=Paris&place=2988507")).await;
    assert_eq!(
        press_record(&client, &base, &paris).await.status(),
        StatusCode::SEE_OTHER
    );

    proxy.set(Link::Silent);
    let reykjavik = page(&client, &format!("{base}/?city=Reykjavik")).await;
    let response = press_record(&client, &base, &reykjavik).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("we could not confirm the change")
            && text.contains("it may have been made")
            && !text.contains("nothing was changed"),
        "{text}"
    );

    proxy.set(Link::Clear);
    assert_eq!(
        press_record(&client, &base, &reykjavik).await.status(),
        StatusCode::SEE_OTHER
    );
    let cities = || async {
        let page: Value = reqwest::get(format!("{base}/api/records"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["city"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let both = eventually(Duration::from_secs(15), || async {
        cities().await.len() == 2
    })
    .await;
    assert!(both, "{:?}", cities().await);
    assert_eq!(cities().await, ["Reykjavík", "Paris"]);
    service.stop().await;
}
