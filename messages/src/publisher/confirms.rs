//! Telling each publish on a shared confirm-mode channel its own outcome.
//!
//! lapin hands a `basic.return` to whichever confirm it completes next (the oldest waiting
//! return to the next completion), and completes the members of a multiple-ack in no
//! particular order, so the returned message a confirm carries may be another publish's. A
//! [`Lane`] therefore owns every publish on its channel from `basic.publish` to the confirm,
//! collects every returned message by its `message_id`, and settles a publish only once its
//! own return, if it has one, has certainly been collected. That rests on three facts:
//!
//! - the broker sends a message's `basic.return` before its `basic.ack`, and lapin queues the
//!   return before it handles the ack;
//! - every confirm lapin completes takes the oldest queued return, so a confirm that carries
//!   none found the queue empty: every return that arrived before it had gone to a confirm
//!   completed earlier;
//! - lapin completes a confirm and wakes its waiter before it completes the next one, and the
//!   driver polls every woken publish again until none is left woken before it settles any,
//!   so every confirm completed before one it has seen has been collected too.
//!
//! So an acknowledged publish whose confirm carried no return is settled at once (returned if
//! its id was collected, routed otherwise). One whose confirm carried another message's return
//! proves nothing about its own: it is settled once a confirm completed after it carries none
//! (the queue of returns was empty again), or once nothing is left in flight on the channel.
//!
//! A publish keeps going after its caller stopped waiting (its deadline passed), so that its
//! confirm, and whatever return it carries, is still accounted for.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;
use lapin::message::BasicReturnMessage;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{Channel, Confirmation};
use tokio::sync::{mpsc, oneshot};

use super::Prepared;

/// What became of one publish.
#[derive(Debug)]
pub(super) enum Settled {
    /// Acknowledged and not returned.
    Routed,
    /// Returned as unroutable.
    Returned,
    /// Negatively acknowledged.
    Nacked,
    /// `basic.publish` itself failed.
    NotSent(lapin::Error),
    /// It may have reached the broker, but its confirm, or the returns that would place it,
    /// were lost with the channel.
    Unknown(String),
    /// Its confirm was lost because the channel or its connection failed with `error`: it may
    /// have reached the broker, unless the broker closed the channel for this very publish.
    Lost(lapin::Error),
}

/// A confirm-mode channel and the task that settles every publish made on it.
pub(super) struct Lane {
    channel: Channel,
    submit: mpsc::UnboundedSender<Submission>,
}

impl Lane {
    /// Takes over `channel`, already in confirm mode; nothing else may publish on it.
    pub(super) fn new(channel: Channel) -> Self {
        let (submit, submissions) = mpsc::unbounded_channel();
        tokio::spawn(Driver::new(channel.clone(), submissions).run());
        Self { channel, submit }
    }

    pub(super) fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes `message` (mandatory); the answer comes when it is settled. A message without
    /// a `message_id` is given one, so that its return can be told apart from others'.
    pub(super) fn publish(&self, message: &Prepared<'_>) -> oneshot::Receiver<Settled> {
        let mut properties = message.properties.clone();
        let message_id = match properties.message_id() {
            Some(id) => id.clone(),
            None => {
                let id = ShortString::from(uuid::Uuid::new_v4().to_string());
                properties = properties.with_message_id(id.clone());
                id
            }
        };
        let channel = self.channel.clone();
        let exchange = ShortString::from(message.exchange);
        let routing_key = ShortString::from(message.routing_key);
        let body = message.body.to_vec();
        let publish = async move {
            let options = BasicPublishOptions {
                mandatory: true,
                immediate: false,
            };
            let confirm = channel
                .basic_publish(exchange, routing_key, options, &body, properties)
                .await
                .map_err(Failure::Send)?;
            confirm.await.map_err(Failure::Confirm)
        };
        let (reply, answer) = oneshot::channel();
        // The driver lives as long as this sender; should it have died, the answer is dropped
        // with the submission and the caller hears that.
        let _ = self.submit.send(Submission {
            message_id,
            publish: Box::pin(publish),
            reply,
        });
        answer
    }
}

enum Failure {
    Send(lapin::Error),
    Confirm(lapin::Error),
}

type Publish = Pin<Box<dyn Future<Output = Result<Confirmation, Failure>> + Send>>;

struct Submission {
    message_id: ShortString,
    publish: Publish,
    reply: oneshot::Sender<Settled>,
}

/// Wakes the driver and marks one publish as worth polling again.
struct Flag {
    woken: AtomicBool,
    driver: Arc<AtomicWaker>,
}

impl Flag {
    fn take(&self) -> bool {
        self.woken.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.driver.wake();
    }
}

struct InFlight {
    submission: Submission,
    flag: Arc<Flag>,
    /// The last pass in which it was polled and still pending.
    pending_in: u64,
}

enum Answer {
    Ack,
    Nack,
    NotRequested,
    NotSent(lapin::Error),
    Lost(lapin::Error),
}

/// A completed publish waiting to be settled.
struct Completed {
    message_id: ShortString,
    reply: oneshot::Sender<Settled>,
    answer: Answer,
    /// Its confirm carried no returned message: lapin's queue of returns was empty.
    carried_none: bool,
    /// The pass that saw it complete.
    seen_in: u64,
}

struct Driver {
    channel: Channel,
    submissions: mpsc::UnboundedReceiver<Submission>,
    accepting: bool,
    waker: Arc<AtomicWaker>,
    in_flight: Vec<InFlight>,
    completed: Vec<Completed>,
    /// Message ids of the returned messages collected and not yet claimed.
    returned: HashMap<ShortString, usize>,
    pass: u64,
    /// A confirm that was still pending in this pass later completed without a return: every
    /// return that arrived before that pass has been collected.
    returns_collected_before: u64,
    /// A confirm failed: returns still queued in lapin will never be handed out.
    failed: bool,
}

impl Driver {
    fn new(channel: Channel, submissions: mpsc::UnboundedReceiver<Submission>) -> Self {
        Self {
            channel,
            submissions,
            accepting: true,
            waker: Arc::new(AtomicWaker::new()),
            in_flight: Vec::new(),
            completed: Vec::new(),
            returned: HashMap::new(),
            pass: 0,
            returns_collected_before: 0,
            failed: false,
        }
    }

    async fn run(mut self) {
        std::future::poll_fn(|context| self.poll(context)).await;
        // Every publisher handle is gone and nothing is in flight: the channel is of no more use.
        if self.channel.status().connected()
            && let Err(error) = self.channel.close(200, "publisher done".into()).await
        {
            tracing::debug!(%error, "closing a publishing channel");
        }
    }

    fn poll(&mut self, context: &mut Context<'_>) -> Poll<()> {
        self.waker.register(context.waker());
        while self.accepting {
            match self.submissions.poll_recv(context) {
                Poll::Ready(Some(submission)) => self.in_flight.push(InFlight {
                    submission,
                    flag: Arc::new(Flag {
                        woken: AtomicBool::new(true),
                        driver: self.waker.clone(),
                    }),
                    pending_in: 0,
                }),
                Poll::Ready(None) => self.accepting = false,
                Poll::Pending => break,
            }
        }
        while self.poll_woken() {}
        self.settle();
        if !self.accepting && self.in_flight.is_empty() && self.completed.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// One pass over the publishes woken since they were last polled; false if there were none.
    fn poll_woken(&mut self) -> bool {
        self.pass += 1;
        let mut any = false;
        let mut index = 0;
        while index < self.in_flight.len() {
            let entry = &mut self.in_flight[index];
            if !entry.flag.take() {
                index += 1;
                continue;
            }
            any = true;
            let waker = Waker::from(entry.flag.clone());
            let polled = entry
                .submission
                .publish
                .as_mut()
                .poll(&mut Context::from_waker(&waker));
            match polled {
                Poll::Pending => {
                    entry.pending_in = self.pass;
                    index += 1;
                }
                Poll::Ready(result) => {
                    let entry = self.in_flight.swap_remove(index);
                    self.complete(entry, result);
                }
            }
        }
        any
    }

    fn complete(&mut self, entry: InFlight, result: Result<Confirmation, Failure>) {
        let mut carried_none = false;
        let answer = match result {
            Ok(Confirmation::Ack(returned)) => {
                carried_none = self.collect(returned, entry.pending_in);
                Answer::Ack
            }
            Ok(Confirmation::Nack(returned)) => {
                carried_none = self.collect(returned, entry.pending_in);
                Answer::Nack
            }
            Ok(Confirmation::NotRequested) => Answer::NotRequested,
            Err(Failure::Send(error)) => {
                self.failed = true;
                Answer::NotSent(error)
            }
            Err(Failure::Confirm(error)) => {
                self.failed = true;
                Answer::Lost(error)
            }
        };
        self.completed.push(Completed {
            message_id: entry.submission.message_id,
            reply: entry.submission.reply,
            answer,
            carried_none,
            seen_in: self.pass,
        });
    }

    /// Keeps the returned message a confirm carried, whoever's it is; true if it carried none.
    fn collect(&mut self, returned: Option<BasicReturnMessage>, pending_in: u64) -> bool {
        match returned {
            None => {
                self.returns_collected_before = self.returns_collected_before.max(pending_in);
                true
            }
            Some(message) => {
                if let Some(id) = message.delivery.properties.message_id() {
                    *self.returned.entry(id.clone()).or_default() += 1;
                }
                false
            }
        }
    }

    fn claim_return(&mut self, message_id: &ShortString) -> bool {
        match self.returned.get_mut(message_id) {
            Some(count) => {
                *count -= 1;
                if *count == 0 {
                    self.returned.remove(message_id);
                }
                true
            }
            None => false,
        }
    }

    fn settle(&mut self) {
        let idle = self.in_flight.is_empty();
        let mut index = 0;
        while index < self.completed.len() {
            let completed = &self.completed[index];
            let ready = match completed.answer {
                Answer::Ack => {
                    self.returned.contains_key(&completed.message_id)
                        || completed.carried_none
                        || self.returns_collected_before > completed.seen_in
                        || idle
                }
                _ => true,
            };
            if !ready {
                index += 1;
                continue;
            }
            let completed = self.completed.swap_remove(index);
            let returned = self.claim_return(&completed.message_id);
            let proven = completed.carried_none
                || self.returns_collected_before > completed.seen_in
                // Otherwise it is ready because nothing is in flight: every return has been
                // handed out, unless the channel failed first.
                || !self.failed;
            let settled = match completed.answer {
                Answer::Ack if returned => Settled::Returned,
                Answer::Ack if proven => Settled::Routed,
                Answer::Ack => {
                    Settled::Unknown("the channel failed before its returns were matched".into())
                }
                Answer::Nack => Settled::Nacked,
                Answer::NotRequested => {
                    Settled::Unknown("the channel is not in confirm mode".into())
                }
                Answer::NotSent(error) => Settled::NotSent(error),
                Answer::Lost(error) => Settled::Lost(error),
            };
            // The caller may have stopped waiting; the publish is accounted for all the same.
            let _ = completed.reply.send(settled);
        }
        if idle && self.completed.is_empty() {
            self.returned.clear();
        }
    }
}
