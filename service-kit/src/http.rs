//! Binding and serving a warp filter with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use warp::{Filter, Reply};

use crate::configuration::HttpSettings;

/// Binds the listener now, so that `port()` is known (port 0 picks a free one) before serving.
pub async fn bind(settings: &HttpSettings) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!(%address, "listening");
    Ok(listener)
}

/// Serves `routes` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve<F>(
    listener: TcpListener,
    routes: F,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    warp::serve(routes)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}
