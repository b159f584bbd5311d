//! Operational endpoints every service serves on its admin listener, never on its public one:
//! `GET /healthz` (the process is alive), `GET /readyz` (its broker and databases answer) and
//! `GET /metrics` (Prometheus text).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

type Check = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// A check that did not pass: how (`failed`, `timeout`: what `/readyz` says) and why (what only
/// the log says).
struct Failure {
    how: &'static str,
    why: String,
}

/// The named dependencies a service needs before it can do its work.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
    /// Each check's last failure as logged, so a failure is logged when it starts or changes,
    /// not at every probe.
    logged: Arc<Mutex<HashMap<&'static str, String>>>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a dependency; `check` succeeds while it is reachable.
    pub fn with_check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()) as BoxFuture<_>)));
        self
    }

    /// The broker cluster: a connection is open or can be opened.
    pub fn with_broker(self, broker: Arc<warren_messages::Broker>) -> Self {
        self.with_check("broker", move || {
            let broker = broker.clone();
            async move { Ok(broker.ping().await?) }
        })
    }

    /// A PostgreSQL pool, checked as `name`: the server answers a query.
    pub fn with_postgres(self, name: &'static str, pool: deadpool_postgres::Pool) -> Self {
        self.with_check(name, move || {
            let pool = pool.clone();
            async move { crate::postgres::ping(&pool).await }
        })
    }

    /// A MongoDB database: the server answers `ping`.
    pub fn with_mongo(self, database: mongodb::Database) -> Self {
        self.with_check("mongo", move || {
            let database = database.clone();
            async move { crate::mongo::ping(&database).await }
        })
    }

    /// Runs every check at once, each bounded by a timeout.
    ///
    /// The answer names each check and says `ok`, `failed` or `timeout`, but never a failure's
    /// text: a driver's error can name hosts, ports, users, databases and versions, which help
    /// an attacker and no probe (a probe wants the status; an operator wants which dependency).
    /// The admin listener is loopback's by default, but an operator may open it to a monitoring
    /// network, so what it says is held to what any scraper there may know. The text goes to
    /// the log instead, with the check's name, when a check starts failing or fails otherwise.
    pub async fn report(&self) -> (bool, serde_json::Value) {
        let results = join_all(self.checks.iter().map(|(name, check)| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(Failure {
                    how: "failed",
                    why: format!("{error:#}"),
                }),
                Err(_) => Err(Failure {
                    how: "timeout",
                    why: format!("no answer within {CHECK_TIMEOUT:?}"),
                }),
            };
            (*name, outcome)
        }))
        .await;
        self.log_changes(&results);
        let ready = results.iter().all(|(_, outcome)| outcome.is_ok());
        let checks: serde_json::Map<_, _> = results
            .into_iter()
            .map(|(name, outcome)| {
                let value = match outcome {
                    Ok(()) => "ok",
                    Err(failure) => failure.how,
                };
                (name.to_owned(), json!(value))
            })
            .collect();
        (ready, json!({ "ready": ready, "checks": checks }))
    }

    /// Logs each failure that is new or differs from the last one logged, and each recovery.
    fn log_changes(&self, results: &[(&'static str, Result<(), Failure>)]) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        for (name, outcome) in results {
            match outcome {
                Err(Failure { why, .. }) if logged.get(name) != Some(why) => {
                    tracing::warn!(check = name, error = %why, "a readiness check failed");
                    logged.insert(name, why.clone());
                }
                Ok(()) if logged.remove(name).is_some() => {
                    tracing::info!(check = name, "a readiness check passes again");
                }
                _ => {}
            }
        }
    }
}

/// Installs the process-wide metrics recorder; call it before anything records a metric.
pub fn install_metrics() {
    metrics_handle();
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("warren_http_request_duration_seconds".to_owned()),
                crate::http_metrics::LATENCY_BUCKETS,
            )
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full("warren_publish_confirm_seconds".to_owned()),
                    crate::http_metrics::LATENCY_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        match builder.install_recorder() {
            Ok(handle) => handle,
            Err(error) => {
                tracing::error!(%error, "cannot install the metrics recorder; /metrics will be empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

/// `/healthz`, `/readyz` and `/metrics` for `service`: the admin listener's routes, and only its.
pub fn routes(
    service: &'static str,
    readiness: Readiness,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let handle = metrics_handle();
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(move || warp::reply::json(&json!({ "service": service, "status": "alive" })));
    let readyz = warp::path!("readyz").and(warp::get()).then(move || {
        let readiness = readiness.clone();
        async move {
            let (ready, body) = readiness.report().await;
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(warp::reply::json(&body), status)
        }
    });
    let metrics = warp::path!("metrics").and(warp::get()).map(move || {
        warp::reply::with_header(
            handle.render(),
            "content-type",
            "text/plain; version=0.0.4; charset=utf-8",
        )
    });
    healthz.or(readyz).or(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readyz_is_503_naming_the_failed_dependency() {
        let readiness = Readiness::new()
            .with_check("broker", || async { Ok(()) })
            .with_check("postgres", || async {
                anyhow::bail!("connection refused: postgres://tally_worker@db.internal:5432")
            });
        let response = warp::test::request()
            .path("/readyz")
            .reply(&routes("test", readiness))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["ready"], false);
        assert_eq!(body["checks"]["broker"], "ok");
        assert_eq!(body["checks"]["postgres"], "failed");
        // The failure's text (hosts, users) stays in the log.
        for secret in ["refused", "tally_worker", "db.internal", "5432"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    /// Takes `CHECK_TIMEOUT` (2 s) of real time: tokio's paused clock needs its test-util.
    #[tokio::test]
    async fn readyz_says_timeout_for_a_check_that_does_not_answer() {
        let readiness = Readiness::new().with_check("mongo", std::future::pending);
        let response = warp::test::request()
            .path("/readyz")
            .reply(&routes("test", readiness))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["checks"]["mongo"], "timeout");
    }

    #[tokio::test]
    async fn readyz_is_200_when_every_dependency_answers() {
        let readiness = Readiness::new().with_check("broker", || async { Ok(()) });
        let response = warp::test::request()
            .path("/readyz")
            .reply(&routes("test", readiness))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        install_metrics();
        metrics::counter!("warren_ops_test_total").increment(3);
        let response = warp::test::request()
            .path("/metrics")
            .reply(&routes("test", Readiness::new()))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(text.contains("warren_ops_test_total 3"), "{text}");
    }
}
