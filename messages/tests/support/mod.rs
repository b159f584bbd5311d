//! An AMQP-aware fault proxy for the messages tests: it forwards whole frames between a client
//! and one broker node, and can hold back exactly the frames a test needs delayed, which a
//! byte-level proxy cannot: a burst of publishes released at once, or the broker's answers on
//! the one channel that has just subscribed.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;

const FRAME_METHOD: u8 = 1;
const FRAME_END: u8 = 0xCE;
const CHANNEL_CLOSE: (u16, u16) = (20, 40);
const BASIC_CONSUME_OK: (u16, u16) = (60, 21);
const BASIC_PUBLISH: (u16, u16) = (60, 40);

/// One AMQP frame as it travels.
struct Frame {
    bytes: Vec<u8>,
    channel: u16,
    /// Class and method ids when it is a method frame.
    method: Option<(u16, u16)>,
}

/// Splits the next whole frame off the front of `buffer`.
fn next_frame(buffer: &mut Vec<u8>) -> Option<Frame> {
    if buffer.len() < 7 {
        return None;
    }
    let size = u32::from_be_bytes([buffer[3], buffer[4], buffer[5], buffer[6]]) as usize;
    let total = 7 + size + 1;
    if buffer.len() < total {
        return None;
    }
    let bytes: Vec<u8> = buffer.drain(..total).collect();
    assert_eq!(bytes[total - 1], FRAME_END, "not an AMQP frame");
    let channel = u16::from_be_bytes([bytes[1], bytes[2]]);
    let method = (bytes[0] == FRAME_METHOD && size >= 4).then(|| {
        (
            u16::from_be_bytes([bytes[7], bytes[8]]),
            u16::from_be_bytes([bytes[9], bytes[10]]),
        )
    });
    Some(Frame {
        bytes,
        channel,
        method,
    })
}

#[derive(Default)]
struct State {
    /// Client frames are held (all of them, heartbeats included) while this is set.
    hold_client: bool,
    held_client: Vec<u8>,
    held_publishes: usize,
    /// Set: the next channel the broker confirms a subscription on is held.
    hold_next_subscription: bool,
    /// The channel whose broker frames are held, until the client closes it.
    held_channel: Option<u16>,
    held_for_channel: usize,
    /// Channels whose held frames were dropped because the client closed them.
    closed_while_held: Vec<u16>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the client-to-broker pipe when held frames are released.
    released: Notify,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub struct AmqpProxy {
    port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl AmqpProxy {
    /// Listens on a free local port and forwards every connection to `node`
    /// (`amqp://host:port`).
    pub async fn start(node: &str) -> Self {
        let upstream = node.trim_start_matches("amqp://").to_owned();
        let (listener, port) = warren_testkit::local_listener().await;
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, shared) = (upstream.clone(), accepting.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        () = client_to_broker(client_read, server_write, shared.clone()) => {}
                        () = broker_to_client(server_read, client_write, shared) => {}
                    }
                });
            }
        });
        Self { port, shared, task }
    }

    /// The node URI a client uses to go through the proxy.
    pub fn node(&self) -> String {
        format!("amqp://127.0.0.1:{}", self.port)
    }

    /// From now on, everything the client sends is held until [`Self::release_client`].
    pub fn hold_client(&self) {
        self.shared.state().hold_client = true;
    }

    /// How many publishes are being held.
    pub fn held_publishes(&self) -> usize {
        self.shared.state().held_publishes
    }

    /// Sends everything held to the broker at once, and passes frames through again.
    pub fn release_client(&self) {
        self.shared.state().hold_client = false;
        self.shared.released.notify_one();
    }

    /// The next time the broker confirms a subscription (`basic.consume-ok`), that answer and
    /// everything after it on its channel is held back from the client: the broker has a live
    /// consumer that the client never hears about. Held frames are dropped when the client
    /// closes that channel.
    pub fn hold_next_subscription(&self) {
        self.shared.state().hold_next_subscription = true;
    }

    /// The channel being held back, if a subscription has been caught.
    pub fn held_channel(&self) -> Option<u16> {
        self.shared.state().held_channel
    }

    /// Frames held back on that channel so far (its consume-ok and the deliveries behind it).
    pub fn held_for_channel(&self) -> usize {
        self.shared.state().held_for_channel
    }

    /// Channels the client closed while their frames were held.
    pub fn closed_while_held(&self) -> Vec<u16> {
        self.shared.state().closed_while_held.clone()
    }
}

impl Drop for AmqpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn client_to_broker(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: Arc<Shared>) {
    // The protocol header comes first and is not a frame.
    let mut header = [0_u8; 8];
    if from.read_exact(&mut header).await.is_err() || to.write_all(&header).await.is_err() {
        return;
    }
    let mut buffer = Vec::new();
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(read) => Some(read),
            },
            () = shared.released.notified() => None,
        };
        if let Some(read) = read {
            buffer.extend_from_slice(&chunk[..read]);
        }
        let mut out = Vec::new();
        {
            let mut state = shared.state();
            if !state.hold_client && !state.held_client.is_empty() {
                out.append(&mut state.held_client);
                state.held_publishes = 0;
            }
            while let Some(frame) = next_frame(&mut buffer) {
                if frame.method == Some(CHANNEL_CLOSE) && state.held_channel == Some(frame.channel)
                {
                    // A closing client discards what arrives on the channel before close-ok.
                    state.held_channel = None;
                    state.closed_while_held.push(frame.channel);
                }
                if state.hold_client {
                    state.held_publishes += usize::from(frame.method == Some(BASIC_PUBLISH));
                    state.held_client.extend_from_slice(&frame.bytes);
                } else {
                    out.extend_from_slice(&frame.bytes);
                }
            }
        }
        if !out.is_empty() && to.write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn broker_to_client(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        let read = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        buffer.extend_from_slice(&chunk[..read]);
        let mut out = Vec::new();
        {
            let mut state = shared.state();
            while let Some(frame) = next_frame(&mut buffer) {
                if frame.method == Some(BASIC_CONSUME_OK) && state.hold_next_subscription {
                    state.hold_next_subscription = false;
                    state.held_channel = Some(frame.channel);
                }
                if state.held_channel == Some(frame.channel) {
                    state.held_for_channel += 1;
                } else {
                    out.extend_from_slice(&frame.bytes);
                }
            }
        }
        if !out.is_empty() && to.write_all(&out).await.is_err() {
            return;
        }
    }
}
