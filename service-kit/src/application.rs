//! A running Warren service: its HTTP routes, its background tasks (consumers, watchers), its
//! broker connection, and the dependencies it reports on at `/readyz`. Each service's
//! `startup::build` assembles one from its settings; `main` and the tests run the same thing.
//!
//! It has two listeners. The public one (`http`) serves the service's own routes and nothing
//! else: a reverse proxy in front of it cannot expose `/metrics` or `/readyz`, whatever its
//! rules say. The admin one (`admin`, loopback by default) serves `ops::routes` alone, for
//! healthchecks and scrapers.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};
use warren_messages::Broker;

use crate::configuration::{AdminSettings, HttpSettings};
use crate::http;
use crate::http_metrics::RouteTemplates;
use crate::ops::{self, Readiness};
use crate::request_id;

/// Completes when the application is stopping; handed to every background task.
#[derive(Clone)]
pub struct Stopping(watch::Receiver<bool>);

impl Stopping {
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

type Task = Box<dyn FnOnce(Stopping) -> BoxFuture<'static, ()> + Send>;

pub struct Application {
    name: &'static str,
    listener: TcpListener,
    admin_listener: TcpListener,
    broker: Arc<Broker>,
    readiness: Readiness,
    routes: Option<BoxedFilter<(Response,)>>,
    route_templates: RouteTemplates,
    tasks: Vec<Task>,
}

impl Application {
    /// Binds the public listener (`http`) and the admin listener (`admin`) now (port 0 picks a
    /// free one); the broker is a readiness dependency.
    pub async fn bind(
        name: &'static str,
        http: &HttpSettings,
        admin: &AdminSettings,
        broker: Arc<Broker>,
        readiness: Readiness,
    ) -> anyhow::Result<Self> {
        let listener = http::bind("public", &http.host, http.port).await?;
        let admin_listener = http::bind("admin", &admin.host, admin.port).await?;
        Ok(Self {
            name,
            listener,
            admin_listener,
            readiness: readiness.with_broker(broker.clone()),
            broker,
            routes: None,
            route_templates: RouteTemplates::default(),
            tasks: Vec::new(),
        })
    }

    /// The service's own pages and endpoints, the public listener's only routes.
    pub fn with_routes(mut self, routes: BoxedFilter<(Response,)>) -> Self {
        self.routes = Some(routes);
        self
    }

    /// The templates of the public routes' paths (`/users/:name/locker-requests`), which label
    /// the request metrics (see `http_metrics`); a path that matches none is counted as `other`.
    pub fn with_route_templates(mut self, templates: &'static [&'static str]) -> Self {
        self.route_templates = RouteTemplates::new(templates);
        self
    }

    /// A background task, started with the application; it must return soon after `Stopping`.
    pub fn with_task<F, Fut>(mut self, task: F) -> Self
    where
        F: FnOnce(Stopping) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .push(Box::new(move |stopping| Box::pin(task(stopping))));
        self
    }

    /// The public listener's port.
    pub fn port(&self) -> u16 {
        port_of(&self.listener)
    }

    /// The admin listener's port: `/healthz`, `/readyz`, `/metrics`.
    pub fn admin_port(&self) -> u16 {
        port_of(&self.admin_listener)
    }

    /// Serves both listeners and runs the tasks until `shutdown` completes; then lets requests
    /// in flight and the tasks finish, and closes the broker connection.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopping) = watch::channel(false);
        let tasks: Vec<_> = self
            .tasks
            .into_iter()
            .map(|task| tokio::spawn(task(Stopping(stopping.clone()))))
            .collect();
        let ops = ops::routes(self.name, self.readiness)
            .map(warp::Reply::into_response)
            .boxed();
        // A worker has no routes of its own: its public port answers 404 to everything.
        let public = self.routes.unwrap_or_else(|| {
            warp::any()
                .and_then(|| async { Err::<Response, Rejection>(warp::reject::not_found()) })
                .boxed()
        });
        // Every answer of the public listener, rejections included, counted, timed and logged,
        // in the span of its request id (`request_id`).
        let templates = self.route_templates;
        let span_templates = templates.clone();
        let public = public
            .map(request_id::tag)
            .with(warp::log::custom(move |info: warp::log::Info<'_>| {
                let status = info.status().as_u16();
                templates.record(info.method().as_str(), info.path(), status, info.elapsed());
                tracing::info!(
                    stage = "request",
                    status,
                    elapsed_ms = info.elapsed().as_secs_f64() * 1000.0,
                    "request answered"
                );
            }))
            .with(warp::trace(move |info: warp::trace::Info<'_>| {
                request_id::span(&info, &span_templates)
            }))
            .map(warp::Reply::into_response)
            .boxed();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        tokio::join!(
            http::serve(self.listener, public, Stopping(stopping.clone()).wait()),
            http::serve(self.admin_listener, ops, Stopping(stopping).wait()),
        );
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(service = self.name, %error, "a background task failed");
            }
        }
        self.broker.close().await;
        tracing::info!(service = self.name, "stopped");
        Ok(())
    }
}

fn port_of(listener: &TcpListener) -> u16 {
    listener
        .local_addr()
        .map(|address| address.port())
        .unwrap_or(0)
}
