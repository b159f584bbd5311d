//! The consumer runner: takes deliveries from one quorum queue in batches, hands them to a
//! handler, and settles each only after the handler has committed its effect.
//!
//! - `Done`: acknowledged (one multiple-ack when the whole batch is done).
//! - `RetryLater`: a transient failure (its database is down). The batch is handed to the
//!   handler again with backoff, holding the deliveries (no redelivery, so the delivery limit
//!   is not spent); past `retry_in_place_ms`, or on shutdown, each is moved to the queue's
//!   delayed-retry queue (published, confirmed, then acknowledged).
//! - `Poison`: it can never succeed. It is published to the dead-letter queue with the reason
//!   in its headers, then acknowledged, so the messages behind it keep flowing. A body that is
//!   not a readable envelope, and an event from any broker user but its type's one producer
//!   (`sender`), is poison without reaching the handler.
//! - A handler that panics or returns the wrong number of outcomes: the batch is rejected with
//!   requeue, so the quorum queue's delivery limit dead-letters a message that always does so.
//!
//! When the connection drops or the server cancels the consumer, the runner reconnects (to any
//! live node), re-applies the prefetch and subscribes again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{Instrument, Span};

use crate::connection::Broker;
use crate::envelope::{self, DecodeError, Envelope, Event};
use crate::journey::{self, Ids};
use crate::publisher::{Prepared, Publisher};
use crate::sender::{self, SENDER_HEADER};
use crate::topology::{ConsumerQueue, DEAD, RETRY};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSettings {
    /// Unacknowledged deliveries the broker may send ahead.
    pub prefetch: u16,
    /// Most deliveries handed to the handler at once (one database transaction).
    pub batch_size: usize,
    /// How long to wait for more deliveries once a batch has its first.
    pub batch_linger_ms: u64,
    /// How long to keep retrying a batch in place before moving it to the retry queue.
    pub retry_in_place_ms: u64,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            prefetch: 500,
            batch_size: 200,
            batch_linger_ms: 2,
            retry_in_place_ms: 60_000,
        }
    }
}

/// What the handler decided for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and committed (or already applied before): acknowledge.
    Done,
    /// A transient failure: try again later; never dead-lettered for this.
    RetryLater(String),
    /// Can never be processed: dead-letter with this reason.
    Poison(String),
}

/// The usual shape of a handler: checks each message of `batch`, hands the valid ones to
/// `apply` together (one transaction), and gives every message its outcome. An invalid message
/// is poison; the valid ones are done, or all retried later if `apply` failed.
pub async fn apply_valid<'a, M, F, Fut>(
    batch: &'a [M],
    check: impl Fn(&M) -> Result<(), String>,
    apply: F,
) -> Vec<Outcome>
where
    F: FnOnce(Vec<&'a M>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let verdicts: Vec<Result<(), String>> = batch.iter().map(check).collect();
    let valid: Vec<&M> = batch
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| verdict.is_ok())
        .map(|(message, _)| message)
        .collect();
    let applied = if valid.is_empty() {
        Ok(())
    } else {
        apply(valid).await
    };
    if let Err(error) = &applied {
        tracing::warn!(error = %format!("{error:#}"), "cannot apply a batch; will retry");
    }
    verdicts
        .into_iter()
        .map(|verdict| match (verdict, &applied) {
            (Err(reason), _) => Outcome::Poison(reason),
            (Ok(()), Ok(())) => Outcome::Done,
            (Ok(()), Err(error)) => Outcome::RetryLater(format!("{error:#}")),
        })
        .collect()
}

/// A message type a queue carries: one event, or an enum of several.
pub trait Decode: Sized + Send + Sync + 'static {
    fn decode(body: &[u8]) -> Result<Self, DecodeError>;
}

impl<E: Event> Decode for Envelope<E> {
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        envelope::decode::<E>(body)
    }
}

/// Applies a batch of messages; returns one outcome per message, in order.
#[async_trait::async_trait]
pub trait Handler<M>: Send + Sync + 'static {
    async fn handle(&self, batch: &[M]) -> Vec<Outcome>;
}

pub struct Consumer<M, H> {
    broker: Arc<Broker>,
    queue: ConsumerQueue,
    handler: Arc<H>,
    settings: ConsumerSettings,
    publisher: Publisher,
    _message: std::marker::PhantomData<fn() -> M>,
}

/// A delivery and what became of reading it: the message, or why it is poison; and the span it
/// is handled in (`journey`).
struct Pending<M> {
    delivery: Delivery,
    decoded: Result<M, String>,
    ids: Ids,
    span: Span,
}

/// A delivery whose outcome is decided, to settle.
struct Decided {
    delivery: Delivery,
    outcome: Outcome,
    span: Span,
}

const RETRY_REASON_HEADER: &str = "x-warren-retry-reason";
const DEAD_REASON_HEADER: &str = "x-warren-reason";
const DEAD_QUEUE_HEADER: &str = "x-warren-queue";

impl<M: Decode, H: Handler<M>> Consumer<M, H> {
    pub fn new(
        broker: Arc<Broker>,
        queue: ConsumerQueue,
        handler: H,
        settings: ConsumerSettings,
    ) -> Self {
        Self {
            publisher: Publisher::new(broker.clone()),
            broker,
            queue,
            handler: Arc::new(handler),
            settings,
            _message: std::marker::PhantomData,
        }
    }

    /// Consumes until `shutdown` completes; finishes the batch in flight, then returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let mut stop = Stop::new(shutdown);
        let orphaned = Arc::new(Notify::new());
        let watch = tokio::spawn(watch_queue(
            self.broker.clone(),
            self.queue,
            orphaned.clone(),
        ));
        let mut backoff = Duration::from_millis(100);
        loop {
            // The channel is kept here, outside the bounded subscribe, so that a subscribe cut
            // short after `basic.consume` went out can close it: otherwise the broker keeps a
            // consumer on it that nobody reads, holding up to `prefetch` deliveries.
            let mut opened = None;
            let subscribed = tokio::select! {
                () = stop.requested() => None,
                subscribed = tokio::time::timeout(SUBSCRIBE_TIMEOUT, self.subscribe(&mut opened)) => {
                    Some(subscribed.unwrap_or_else(|_| {
                        Err(crate::BrokerError::Unavailable { tried: 1, last: format!("no subscription within {SUBSCRIBE_TIMEOUT:?}") })
                    }))
                }
            };
            let Some(subscribed) = subscribed else {
                if let Some(channel) = opened {
                    leave(&channel, None).await;
                }
                break;
            };
            let (channel, mut deliveries) = match subscribed {
                Ok(subscription) => {
                    backoff = Duration::from_millis(100);
                    subscription
                }
                Err(error) => {
                    if let Some(channel) = opened {
                        leave(&channel, None).await;
                    }
                    tracing::warn!(queue = self.queue.name, %error, "cannot subscribe; retrying");
                    tokio::select! {
                        () = stop.requested() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            tracing::info!(queue = self.queue.name, "consuming");
            let stopping = loop {
                if stop.fired {
                    break true;
                }
                let first = tokio::select! {
                    () = stop.requested() => break true,
                    () = orphaned.notified() => {
                        tracing::warn!(queue = self.queue.name, "the queue shows no consumer although this one is subscribed; subscribing again");
                        break false;
                    }
                    next = deliveries.next() => next,
                };
                let Some(Ok(first)) = first else {
                    tracing::warn!(
                        queue = self.queue.name,
                        "consumer stream ended (connection lost or consumer cancelled); subscribing again"
                    );
                    break false;
                };
                let mut batch = vec![first];
                let linger = Instant::now() + Duration::from_millis(self.settings.batch_linger_ms);
                let mut stream_ended = false;
                while batch.len() < self.settings.batch_size {
                    match tokio::time::timeout_at(linger, deliveries.next()).await {
                        Ok(Some(Ok(delivery))) => batch.push(delivery),
                        Ok(_) => {
                            stream_ended = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                // The batch in flight is finished even when shutdown arrives meanwhile.
                self.process(&channel, batch, &mut stop).await;
                if stream_ended {
                    break false;
                }
            };
            // Leave the subscription behind for good: a cancelled or orphaned consumer's channel
            // is closed too, returning anything it still holds to the queue.
            leave(&channel, Some(deliveries.tag())).await;
            if stopping {
                break;
            }
            metrics::counter!("warren_consumer_subscriptions_lost_total", "queue" => self.queue.name)
                .increment(1);
        }
        watch.abort();
        tracing::info!(queue = self.queue.name, "consumer stopped");
    }

    /// Opens a channel (left in `opened` as soon as it exists), sets the prefetch and subscribes.
    async fn subscribe(
        &self,
        opened: &mut Option<Channel>,
    ) -> Result<(Channel, lapin::Consumer), crate::BrokerError> {
        let channel = opened.insert(self.broker.channel().await?).clone();
        channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await
            .map_err(crate::BrokerError::amqp)?;
        let consumer = channel
            .basic_consume(
                self.queue.name.into(),
                ShortString::from(format!(
                    "{}-{}",
                    self.queue.owner,
                    uuid::Uuid::new_v4().simple()
                )),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(crate::BrokerError::amqp)?;
        Ok((channel, consumer))
    }

    async fn process(
        &self,
        channel: &Channel,
        deliveries: Vec<Delivery>,
        stop: &mut Stop<impl Future<Output = ()>>,
    ) {
        let queue = self.queue.name;
        metrics::counter!("warren_messages_consumed_total", "queue" => queue)
            .increment(deliveries.len() as u64);
        // The self-test's `ack-before-commit`: the batch is acknowledged before the handler
        // runs and never settled, so a crash loses it (never in a build without the feature).
        let acked_early = crate::sabotage::active(crate::sabotage::Sabotage::AckBeforeCommit);
        if acked_early && let Some(last) = deliveries.iter().map(|d| d.delivery_tag).max() {
            let _ = channel
                .basic_ack(last, BasicAckOptions { multiple: true })
                .await;
        }
        let (mut pending, unreadable): (Vec<Pending<M>>, Vec<Pending<M>>) = deliveries
            .into_iter()
            .map(|delivery| {
                let ids = Ids::of(&delivery.properties);
                let span = ids.span(queue);
                // Entered, not named as the parent: JSON lines list the entered spans.
                span.in_scope(|| {
                    tracing::info!(
                        stage = "consume",
                        redelivered = delivery.redelivered,
                        "received"
                    );
                });
                Pending {
                    decoded: self.read(&delivery),
                    delivery,
                    ids,
                    span,
                }
            })
            .partition(|item| item.decoded.is_ok());
        // Poison that never reaches the handler.
        let mut settled: Vec<Decided> = unreadable
            .into_iter()
            .map(|item| Decided {
                outcome: Outcome::Poison(item.decoded.err().unwrap_or_default()),
                delivery: item.delivery,
                span: item.span,
            })
            .collect();
        let mut started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        let mut shutting_down = false;
        while !pending.is_empty() {
            let messages: Vec<M> = pending
                .iter_mut()
                .filter_map(|item| std::mem::replace(&mut item.decoded, Err(String::new())).ok())
                .collect();
            let handler = self.handler.clone();
            // What the handler logs is in the message's span, or the batch's (every id in it).
            let span = match pending.as_slice() {
                [only] => only.span.clone(),
                many => journey::batch_span(
                    queue,
                    &many.iter().map(|item| &item.ids).collect::<Vec<_>>(),
                ),
            };
            let run = tokio::spawn(
                async move {
                    let outcomes = handler.handle(&messages).await;
                    (messages, outcomes)
                }
                .instrument(span),
            );
            let (messages, outcomes) = match run.await {
                Ok((messages, outcomes)) if outcomes.len() == messages.len() => {
                    (messages, outcomes)
                }
                Ok((messages, outcomes)) => {
                    tracing::error!(
                        queue,
                        expected = messages.len(),
                        got = outcomes.len(),
                        "handler returned the wrong number of outcomes; requeueing the batch"
                    );
                    self.requeue(channel, &pending).await;
                    pending.clear();
                    break;
                }
                Err(error) => {
                    tracing::error!(queue, %error, "handler panicked; requeueing the batch");
                    self.requeue(channel, &pending).await;
                    pending.clear();
                    break;
                }
            };
            let mut retry = Vec::new();
            for ((item, message), outcome) in pending.drain(..).zip(messages).zip(outcomes) {
                match outcome {
                    Outcome::RetryLater(reason) => retry.push((
                        Pending {
                            decoded: Ok(message),
                            ..item
                        },
                        reason,
                    )),
                    outcome => {
                        if outcome == Outcome::Done {
                            item.span
                                .in_scope(|| tracing::info!(stage = "commit", "applied"));
                        }
                        settled.push(Decided {
                            delivery: item.delivery,
                            outcome,
                            span: item.span,
                        });
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            let reason = retry[0].1.clone();
            let give_up =
                started.elapsed() >= Duration::from_millis(self.settings.retry_in_place_ms);
            if give_up || shutting_down {
                for (item, reason) in retry {
                    settled.push(Decided {
                        delivery: item.delivery,
                        outcome: Outcome::RetryLater(reason),
                        span: item.span,
                    });
                }
                break;
            }
            metrics::counter!("warren_messages_retried_in_place_total", "queue" => queue)
                .increment(retry.len() as u64);
            tracing::warn!(
                queue,
                reason,
                count = retry.len(),
                ?backoff,
                "handler asked to retry; waiting"
            );
            tokio::select! {
                () = stop.requested() => shutting_down = true,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
            pending = retry.into_iter().map(|(item, _)| item).collect();
            if shutting_down {
                // One last attempt, then whatever still fails goes to the retry queue.
                started = Instant::now() - Duration::from_millis(self.settings.retry_in_place_ms);
            }
        }
        if !acked_early {
            self.settle(channel, settled).await;
        }
    }

    async fn settle(&self, channel: &Channel, mut settled: Vec<Decided>) {
        let queue = self.queue.name;
        settled.sort_by_key(|decided| decided.delivery.delivery_tag);
        if settled
            .iter()
            .all(|decided| decided.outcome == Outcome::Done)
        {
            if let Some(last) = settled.last() {
                let count = settled.len() as u64;
                match channel
                    .basic_ack(
                        last.delivery.delivery_tag,
                        BasicAckOptions { multiple: true },
                    )
                    .await
                {
                    Ok(_) => metrics::counter!("warren_messages_acked_total", "queue" => queue)
                        .increment(count),
                    Err(error) => {
                        tracing::warn!(queue, %error, "ack failed; the batch will be redelivered and applied once")
                    }
                }
            }
            return;
        }
        for Decided {
            delivery,
            outcome,
            span,
        } in settled
        {
            let tag = delivery.delivery_tag;
            let forwarded = match &outcome {
                Outcome::Done => true,
                Outcome::RetryLater(reason) => {
                    span.in_scope(|| {
                        tracing::warn!(stage = "retry", reason, "moving to the retry queue");
                    });
                    self.forward(&delivery, RETRY.name, RETRY_REASON_HEADER, reason)
                        .instrument(span.clone())
                        .await
                }
                Outcome::Poison(reason) => {
                    span.in_scope(|| {
                        tracing::error!(stage = "dead-letter", reason, "dead-lettering poison");
                    });
                    self.forward(&delivery, DEAD.name, DEAD_REASON_HEADER, reason)
                        .instrument(span.clone())
                        .await
                }
            };
            let result = if forwarded {
                channel.basic_ack(tag, BasicAckOptions::default()).await
            } else {
                // Could not forward it: give it back; the delivery limit bounds how often.
                channel
                    .basic_nack(
                        tag,
                        BasicNackOptions {
                            multiple: false,
                            requeue: true,
                        },
                    )
                    .await
            };
            match (result, &outcome) {
                (Err(error), _) => {
                    tracing::warn!(queue, %error, "settling a delivery failed; it will be redelivered")
                }
                (Ok(_), _) if !forwarded => {}
                (Ok(_), Outcome::Done) => {
                    metrics::counter!("warren_messages_acked_total", "queue" => queue).increment(1)
                }
                (Ok(_), Outcome::RetryLater(_)) => {
                    metrics::counter!("warren_messages_retried_total", "queue" => queue)
                        .increment(1)
                }
                (Ok(_), Outcome::Poison(_)) => {
                    metrics::counter!("warren_messages_dead_lettered_total", "queue" => queue)
                        .increment(1)
                }
            }
        }
    }

    /// Reads a delivery: its event type must come from this broker user, and its body must be
    /// an envelope this queue reads. The event is not interpreted before its sender is checked.
    fn read(&self, delivery: &Delivery) -> Result<M, String> {
        let event_type = envelope::event_type(&delivery.data).map_err(|error| error.to_string())?;
        sender::check(&event_type, self.sender_of(delivery))?;
        M::decode(&delivery.data).map_err(|error| error.to_string())
    }

    /// The broker user that sent `delivery` (see `sender`).
    fn sender_of<'a>(&self, delivery: &'a Delivery) -> Option<&'a str> {
        let user_id = delivery
            .properties
            .user_id()
            .as_ref()
            .map(ShortString::as_str);
        let header = journey::header_text(&delivery.properties, SENDER_HEADER);
        sender::sender(&self.queue, user_id, header)
    }

    /// Publishes a copy of `delivery` to `exchange` with this queue's name as routing key. The
    /// copy goes out as this consumer's broker user, carrying the sender of the original.
    async fn forward(
        &self,
        delivery: &Delivery,
        exchange: &'static str,
        header: &str,
        reason: &str,
    ) -> bool {
        let mut headers = delivery
            .properties
            .headers()
            .as_ref()
            .map(|headers| headers.inner().clone())
            .unwrap_or_default();
        headers.insert(
            header.into(),
            AMQPValue::LongString(reason.to_owned().into()),
        );
        headers.insert(
            DEAD_QUEUE_HEADER.into(),
            AMQPValue::LongString(self.queue.name.to_owned().into()),
        );
        // Whatever the original carried under this name is replaced by the sender it had.
        match self.sender_of(delivery).map(str::to_owned) {
            Some(sender) => {
                headers.insert(SENDER_HEADER.into(), AMQPValue::LongString(sender.into()))
            }
            None => headers.remove(SENDER_HEADER),
        };
        let properties: BasicProperties = delivery
            .properties
            .clone()
            .with_headers(FieldTable::from(headers))
            .with_delivery_mode(2);
        let message = Prepared {
            exchange,
            routing_key: self.queue.name,
            body: &delivery.data,
            properties,
        };
        match self.publisher.send(message).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(queue = self.queue.name, exchange, %error, "cannot forward a delivery");
                false
            }
        }
    }

    async fn requeue(&self, channel: &Channel, pending: &[Pending<M>]) {
        for item in pending {
            if let Err(error) = channel
                .basic_nack(
                    item.delivery.delivery_tag,
                    BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    },
                )
                .await
            {
                tracing::warn!(queue = self.queue.name, %error, "requeue failed; it will be redelivered");
            }
        }
    }
}

/// The shutdown signal, remembered once it has fired: a completed future must not be polled
/// again, and the runner asks after it at several points.
struct Stop<F> {
    signal: Pin<Box<F>>,
    fired: bool,
}

impl<F: Future<Output = ()>> Stop<F> {
    fn new(signal: F) -> Self {
        Self {
            signal: Box::pin(signal),
            fired: false,
        }
    }

    /// Completes when shutdown has been requested (at once if it already was).
    async fn requested(&mut self) {
        if !self.fired {
            self.signal.as_mut().await;
            self.fired = true;
        }
    }
}

/// Leaves a subscription for good: cancels the consumer (when it is known) and closes its
/// channel, which returns whatever it still holds to the queue. Both are bounded: after a
/// server-side cancel, or with a subscription the client never heard confirmed, the broker
/// may never answer.
async fn leave(channel: &Channel, consumer_tag: Option<ShortString>) {
    if !channel.status().connected() {
        return;
    }
    if let Some(tag) = consumer_tag {
        let cancel = channel.basic_cancel(tag, BasicCancelOptions::default());
        if tokio::time::timeout(LEAVE_TIMEOUT, cancel).await.is_err() {
            tracing::debug!("no answer to cancelling the consumer");
        }
    }
    let close = channel.close(200, "consumer leaving".into());
    if tokio::time::timeout(LEAVE_TIMEOUT, close).await.is_err() {
        tracing::debug!("no answer to closing the consumer channel");
    }
}

/// Bound on opening a channel, setting its prefetch and subscribing.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on cancelling a consumer and closing its channel when leaving a subscription.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the queue is looked at for the lag gauge and the orphan check.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Reports how many messages wait in the queue (the `warren_consumer_lag` gauge) and in its
/// dead-letter queue (`warren_dead_letter_queue_depth`, the alert that poison is piling up
/// towards the queue's bound), and signals `orphaned` when this runner's subscription is
/// certainly dead though the broker may never have said so (RabbitMQ does not always send
/// `basic.cancel` when a quorum queue is deleted): the queue no longer exists, or it twice in a
/// row shows no consumer at all.
async fn watch_queue(broker: Arc<Broker>, queue: ConsumerQueue, orphaned: Arc<Notify>) {
    let dead_letter_queue = queue.dead_letter_queue();
    let dead_depth =
        metrics::gauge!("warren_dead_letter_queue_depth", "queue" => dead_letter_queue.clone());
    let mut channel: Option<Channel> = None;
    let mut empty_readings = 0;
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        tick.tick().await;
        if channel
            .as_ref()
            .is_none_or(|channel| !channel.status().connected())
        {
            channel = broker.channel().await.ok();
        }
        let Some(open) = &channel else { continue };
        let declare = open.queue_declare(
            queue.name.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        );
        let declared = tokio::time::timeout(WATCH_INTERVAL, declare).await;
        match declared {
            Err(_) => channel = None,
            Ok(Err(error)) if error.to_string().contains("NOT_FOUND") => {
                // The queue is gone, and with it any subscription to it.
                orphaned.notify_one();
                channel = None;
            }
            Ok(declared) => match declared {
                Ok(info) => {
                    metrics::gauge!("warren_consumer_lag", "queue" => queue.name)
                        .set(f64::from(info.message_count()));
                    empty_readings = if info.consumer_count() == 0 {
                        empty_readings + 1
                    } else {
                        0
                    };
                    if empty_readings >= 2 {
                        orphaned.notify_one();
                        empty_readings = 0;
                    }
                }
                Err(_) => channel = None,
            },
        }
        // A passive declare needs no permission, so the consumer reads its `.dead` queue's
        // depth though it may not consume from it. A failure closes the channel: next tick.
        if let Some(open) = &channel {
            let declare = open.queue_declare(
                dead_letter_queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            );
            match tokio::time::timeout(WATCH_INTERVAL, declare).await {
                Ok(Ok(info)) => dead_depth.set(f64::from(info.message_count())),
                _ => channel = None,
            }
        }
    }
}
