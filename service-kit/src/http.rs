//! Binding and serving a warp filter with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use warp::{Filter, Reply};

/// Binds a listener on `host:port` now, so that its port is known (port 0 picks a free one)
/// before serving; `which` names it in the log and in errors ("public", "admin").
pub async fn bind(which: &'static str, host: &str, port: u16) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot open the {which} listener on {host}:{port}"))?;
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!(%address, listener = which, "listening");
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
