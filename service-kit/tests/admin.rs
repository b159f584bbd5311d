//! The two listeners of every service: the public one serves the service's own routes and
//! nothing else (`/healthz`, `/readyz` and `/metrics` are a plain 404 there, whatever a
//! reverse proxy forwards), the admin one serves those three and nothing else, and `/readyz`
//! tells neither the text of a dependency's error. Against the real broker and PostgreSQL, and
//! against dependencies that refuse connections.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};
use warren_messages::Broker;
use warren_service_kit::configuration::{self, AdminSettings, HttpSettings};
use warren_service_kit::ops::{self, Readiness};
use warren_service_kit::{Application, postgres};
use warren_testkit::web::browser;
use warren_testkit::{Running, broker_settings, free_port, spawn, vhost_with};

const OPS_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Both listeners as the shared defaults place them (on loopback), each on a free port.
#[derive(serde::Deserialize)]
struct Listeners {
    http: HttpSettings,
    admin: AdminSettings,
}

fn listeners() -> Listeners {
    let listeners: Listeners =
        configuration::load_from("[http]\nport = 0\n", std::iter::empty()).unwrap();
    assert_eq!(listeners.http.host, "127.0.0.1");
    assert_eq!(
        listeners.admin.host, "127.0.0.1",
        "the admin listener is loopback's"
    );
    listeners
}

/// The service's own route: `GET /hello`.
fn own_routes() -> BoxedFilter<(Response,)> {
    warp::path!("hello")
        .and(warp::get())
        .map(|| warp::reply::html("hello").into_response())
        .boxed()
}

async fn start(broker: warren_messages::BrokerSettings, readiness: Readiness) -> Running {
    ops::install_metrics();
    let broker = Arc::new(Broker::new(broker, "admin-listener-test").unwrap());
    let Listeners { http, admin } = listeners();
    let application = Application::bind("tally-worker", &http, &admin, broker, readiness)
        .await
        .unwrap()
        .with_routes(own_routes());
    assert_ne!(application.port(), application.admin_port());
    spawn(application)
}

async fn get(url: &str) -> (u16, String) {
    let response = browser().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn ops_endpoints_answer_on_the_admin_port_and_are_404_on_the_public_one() {
    let vhost = vhost_with(&[]).await;
    let running = start(broker_settings("tally-worker", &vhost), Readiness::new()).await;

    let (status, body) = get(&running.admin_url("/healthz")).await;
    assert_eq!(status, 200, "admin /healthz: {body}");
    assert!(body.contains("\"alive\""), "{body}");
    let (status, body) = get(&running.admin_url("/readyz")).await;
    assert_eq!(status, 200, "admin /readyz: {body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], true, "{body}");
    assert_eq!(ready["checks"]["broker"], "ok", "{body}");
    let (status, body) = get(&running.admin_url("/metrics")).await;
    assert_eq!(status, 200, "admin /metrics: {body}");

    for path in OPS_PATHS {
        let (status, body) = get(&running.url(path)).await;
        assert_eq!(status, 404, "public {path} answered {status}: {body}");
        assert!(!body.contains("broker"), "public {path}: {body}");
    }
    // The service's own routes are the public port's, and only its.
    assert_eq!(get(&running.url("/hello")).await.0, 200);
    assert_eq!(get(&running.admin_url("/hello")).await.0, 404);

    let (port, admin_port) = (running.port, running.admin_port);
    running.stop().await;
    // Both listeners stop together.
    for port in [port, admin_port] {
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err(),
            "port {port} still accepts connections after the stop"
        );
    }
}

#[tokio::test]
async fn readyz_tells_neither_port_the_text_of_a_dependency_error() {
    // A broker node and a PostgreSQL server where nothing listens: real connection errors.
    let dead_broker = free_port();
    let dead_postgres = free_port();
    let vhost = vhost_with(&[]).await;
    let mut broker = broker_settings("tally-worker", &vhost);
    broker.nodes = vec![format!("amqp://127.0.0.1:{dead_broker}")];
    let database = postgres::PostgresSettings {
        url: format!("postgres://tally_worker@127.0.0.1:{dead_postgres}/warren_votes").into(),
        password: String::new().into(),
        pool_size: 1,
        connect_timeout_ms: 1_000,
        sslmode: postgres::SslMode::Disable,
        ca_file: None,
    };
    let pool = postgres::pool(&database).unwrap();
    // The errors do carry the text the answers must not.
    let error = format!("{:#}", postgres::ping(&pool).await.unwrap_err());
    assert!(
        error.contains(&dead_postgres.to_string()) || error.contains("refused"),
        "{error}"
    );
    let readiness = Readiness::new().with_check("postgres", move || {
        let pool = pool.clone();
        async move { postgres::ping(&pool).await }
    });
    let running = start(broker, readiness).await;

    let (status, body) = get(&running.admin_url("/readyz")).await;
    assert_eq!(status, 503, "admin /readyz: {body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], false, "{body}");
    // It names which checks failed, and how, but not why.
    for check in ["broker", "postgres"] {
        let outcome = &ready["checks"][check];
        assert!(
            outcome == "failed" || outcome == "timeout",
            "{check} in {body}"
        );
    }
    let leaks = |text: &str| {
        let lower = text.to_lowercase();
        [
            "refused".to_owned(),
            "127.0.0.1".to_owned(),
            "tally_worker".to_owned(),
            dead_broker.to_string(),
            dead_postgres.to_string(),
        ]
        .into_iter()
        .filter(|secret| lower.contains(secret))
        .collect::<Vec<_>>()
    };
    assert_eq!(leaks(&body), Vec::<String>::new(), "admin /readyz: {body}");

    let (status, body) = get(&running.url("/readyz")).await;
    assert_eq!(status, 404, "public /readyz: {body}");
    assert_eq!(leaks(&body), Vec::<String>::new(), "public /readyz: {body}");
    assert!(!body.contains("postgres"), "public /readyz: {body}");
    running.stop().await;
}

/// The value of the one series of `metric` in `metrics` that has every label of `labels`.
fn series(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn public_requests_are_counted_and_timed_by_route_template_and_status_never_by_path() {
    ops::install_metrics();
    let vhost = vhost_with(&[]).await;
    let broker = Arc::new(
        Broker::new(broker_settings("tally-worker", &vhost), "http-metrics-test").unwrap(),
    );
    let Listeners { http, admin } = listeners();
    let greet = warp::path!("greet" / String)
        .and(warp::get())
        .map(|name: String| warp::reply::html(format!("hello {name}")).into_response());
    let application = Application::bind("tally-worker", &http, &admin, broker, Readiness::new())
        .await
        .unwrap()
        .with_routes(own_routes().or(greet).unify().boxed())
        .with_route_templates(&["/greet/:name"]);
    let running = spawn(application);

    for path in ["/greet/alice", "/greet/bob", "/hello", "/no/such/page-xyz"] {
        get(&running.url(path)).await;
    }
    let (_, metrics) = get(&running.admin_url("/metrics")).await;
    let requests = "warren_http_requests_total";
    let greeted = [
        r#"method="GET""#,
        r#"route="/greet/:name""#,
        r#"status="200""#,
    ];
    assert_eq!(series(&metrics, requests, &greeted), Some(2.0), "{metrics}");
    // A path that no template names is `other`; one that no route takes is `unmatched`.
    assert!(
        series(&metrics, requests, &[r#"route="other""#, r#"status="200""#]).unwrap_or(0.0) >= 1.0,
        "{metrics}"
    );
    assert!(
        series(
            &metrics,
            requests,
            &[r#"route="unmatched""#, r#"status="404""#]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{metrics}"
    );
    for value in ["alice", "bob", "page-xyz", "/hello"] {
        assert!(
            !metrics.contains(value),
            "{value} became a label: {metrics}"
        );
    }
    // Latency is a histogram with buckets (not a summary), per route.
    let timed = "warren_http_request_duration_seconds_bucket";
    assert_eq!(
        series(
            &metrics,
            timed,
            &[r#"route="/greet/:name""#, r#"le="+Inf""#]
        ),
        Some(2.0),
        "{metrics}"
    );
    assert!(
        series(
            &metrics,
            timed,
            &[r#"route="/greet/:name""#, r#"le="0.005""#]
        )
        .is_some(),
        "{metrics}"
    );
    running.stop().await;
}
