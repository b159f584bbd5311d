//! A running Warren service: its HTTP routes, its background tasks (consumers, watchers), its
//! broker connection, and the dependencies it reports on at `/readyz`. Each service's
//! `startup::build` assembles one from its settings; `main` and the tests run the same thing.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warren_messages::Broker;

use crate::configuration::HttpSettings;
use crate::http;
use crate::ops::{self, Readiness};

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
    broker: Arc<Broker>,
    readiness: Readiness,
    routes: Option<BoxedFilter<(Response,)>>,
    tasks: Vec<Task>,
}

impl Application {
    /// Binds the listener now (port 0 picks a free one); the broker is a readiness dependency.
    pub async fn bind(
        name: &'static str,
        settings: &HttpSettings,
        broker: Arc<Broker>,
        readiness: Readiness,
    ) -> anyhow::Result<Self> {
        let listener = http::bind(settings).await?;
        Ok(Self {
            name,
            listener,
            readiness: readiness.with_broker(broker.clone()),
            broker,
            routes: None,
            tasks: Vec::new(),
        })
    }

    /// The service's own pages and endpoints, served beside the operational ones.
    pub fn with_routes(mut self, routes: BoxedFilter<(Response,)>) -> Self {
        self.routes = Some(routes);
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

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|address| address.port())
            .unwrap_or(0)
    }

    /// Serves and runs the tasks until `shutdown` completes; then lets requests in flight and
    /// the tasks finish, and closes the broker connection.
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
        let routes = match self.routes {
            Some(own) => ops.or(own).unify().boxed(),
            None => ops,
        };
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        http::serve(self.listener, routes, Stopping(stopping).wait()).await;
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
