//! A TCP fault proxy between a client and one server: it passes bytes through, slows them
//! down, or holds them (a link that went silent without closing), as the test says.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How the link behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes pass as they come.
    Clear,
    /// Every chunk waits this long before it is passed on.
    Slow(Duration),
    /// Nothing passes, and nothing is closed: the peers hear silence.
    Silent,
}

pub struct FaultProxy {
    pub port: u16,
    link: watch::Sender<Link>,
    connections: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free local port and forwards every connection to `upstream`.
    pub async fn start(upstream: String) -> Self {
        let (listener, port) = crate::local_listener().await;
        let (link, watching) = watch::channel(Link::Clear);
        let connections = Arc::new(AtomicU64::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, link) = (upstream.clone(), watching.clone());
                counted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::select! {
                            () = pipe(client_read, server_write, link.clone()) => {}
                            () = pipe(server_read, client_write, link) => {}
                        }
                    }
                });
            }
        });
        Self {
            port,
            link,
            connections,
            task,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }

    /// Connections accepted so far (a reconnect shows as a new one).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies one direction, obeying the link; returns when either side closes.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        loop {
            let now = *link.borrow_and_update();
            match now {
                Link::Clear => break,
                Link::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    break;
                }
                // Hold the bytes until the link changes.
                Link::Silent => {
                    if link.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
