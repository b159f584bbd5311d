//! Benchmarks on a throwaway cluster (`scripts/bench`).
//!
//! `broker [MESSAGES] [ROUNDS]`: publishes and consumes MESSAGES vote events on a three-node
//! quorum queue, through Warren's `messages` library (confirming publisher, batching consumer
//! runner) and through bare lapin doing the same work (confirms, manual multiple-acks), and
//! prints both rates, publish-to-consume latency and their ratio.
//!
//! `votes [VOTES] [CLIENTS]`: runs the release binaries of vote-service and tally-worker, has
//! CLIENTS concurrent clients each cast votes as new voters through the web form, and prints
//! confirmed votes/s, the time until the tally shows them all, POST-to-visible latency, each
//! service's peak memory, and the ratio to the bare-lapin broker rate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::topology::{TALLY_VOTES, VOTES};
use warren_messages::{
    Broker, Consumer, ConsumerSettings, Envelope, Event, Handler, Outcome, Publisher,
};
use warren_testkit::{broker_password, broker_settings, vhost_with};

mod votes;

const IN_FLIGHT: usize = 64;

struct Report {
    name: &'static str,
    messages: usize,
    /// Until every publish was confirmed.
    published: Duration,
    /// Until every message was consumed.
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }

    fn print(&self) {
        println!(
            "{:<22} {:>8} msgs in {:>6.2}s (all confirmed after {:>5.2}s) = {:>8.0} msg/s   latency p50 {:>7.1} ms  p99 {:>7.1} ms",
            self.name,
            self.messages,
            self.elapsed.as_secs_f64(),
            self.published.as_secs_f64(),
            self.rate(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
        );
    }
}

fn vote() -> Envelope<VoteCast> {
    Envelope::new(
        "bench",
        VoteCast {
            poll: "bench".into(),
            voter_id: Uuid::new_v4(),
            option: "a".into(),
        },
    )
}

fn latency_of(envelope: &Envelope<VoteCast>) -> Duration {
    (chrono::Utc::now() - envelope.occurred_at)
        .to_std()
        .unwrap_or_default()
}

/// Records the publish-to-consume latency of every message it applies.
#[derive(Clone, Default)]
struct Timer {
    latencies: Arc<Mutex<Vec<Duration>>>,
}

#[async_trait::async_trait]
impl Handler<Envelope<VoteCast>> for Timer {
    async fn handle(&self, batch: &[Envelope<VoteCast>]) -> Vec<Outcome> {
        self.latencies
            .lock()
            .unwrap()
            .extend(batch.iter().map(latency_of));
        vec![Outcome::Done; batch.len()]
    }
}

async fn wait_for(latencies: &Arc<Mutex<Vec<Duration>>>, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while latencies.lock().unwrap().len() < count {
        assert!(Instant::now() < deadline, "not every message was consumed");
        tick.tick().await;
    }
}

async fn library(messages: usize) -> Report {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let publisher = Arc::new(Publisher::new(Arc::new(
        Broker::new(broker_settings("vote-service", &vhost), "bench-publisher").unwrap(),
    )));
    publisher.ping().await.unwrap();
    let timer = Timer::default();
    let consumer_broker =
        Arc::new(Broker::new(broker_settings("tally-worker", &vhost), "bench-consumer").unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(
        consumer_broker,
        TALLY_VOTES,
        timer.clone(),
        ConsumerSettings::default(),
    );
    let consuming = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));
    let started = Instant::now();
    futures::stream::iter(0..messages)
        .for_each_concurrent(IN_FLIGHT, |_| {
            let publisher = publisher.clone();
            async move { publisher.publish(&vote()).await.unwrap() }
        })
        .await;
    let published = started.elapsed();
    wait_for(&timer.latencies, messages).await;
    let elapsed = started.elapsed();
    stop.send(()).unwrap();
    consuming.await.unwrap();
    let latencies = timer.latencies.lock().unwrap().clone();
    Report {
        name: "warren messages",
        messages,
        published,
        elapsed,
        latencies,
    }
}

/// The AMQP properties Warren's publisher writes for `envelope`, set as a bare client would.
fn properties(envelope: &Envelope<VoteCast>) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        "schema_version".into(),
        AMQPValue::LongUInt(u32::from(envelope.schema_version)),
    );
    BasicProperties::default()
        .with_message_id(envelope.message_id.to_string().into())
        .with_type(envelope.event_type.clone().into())
        .with_timestamp(envelope.occurred_at.timestamp().max(0) as u64)
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_app_id(envelope.producer.clone().into())
        .with_correlation_id(envelope.correlation_id.to_string().into())
        .with_headers(headers)
}

async fn bare_lapin(messages: usize, node: &str) -> Report {
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let address = node.trim_start_matches("amqp://").to_owned();
    let uri = |user: &str| format!("amqp://{user}:{}@{address}/{vhost}", broker_password(user));
    let publishing = Connection::connect(&uri("vote-service"), ConnectionProperties::default())
        .await
        .unwrap();
    let consuming = Connection::connect(&uri("tally-worker"), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = publishing.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let consumer_channel = consuming.create_channel().await.unwrap();
    consumer_channel
        .basic_qos(500, BasicQosOptions::default())
        .await
        .unwrap();
    let mut deliveries = consumer_channel
        .basic_consume(
            TALLY_VOTES.name.into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let consumed = latencies.clone();
    let consumer = tokio::spawn(async move {
        let mut unacked = 0;
        while consumed.lock().unwrap().len() < messages {
            let delivery = deliveries.next().await.unwrap().unwrap();
            let envelope: Envelope<VoteCast> = serde_json::from_slice(&delivery.data).unwrap();
            consumed.lock().unwrap().push(latency_of(&envelope));
            unacked += 1;
            if unacked == 100 || consumed.lock().unwrap().len() == messages {
                delivery
                    .acker
                    .ack(BasicAckOptions { multiple: true })
                    .await
                    .unwrap();
                unacked = 0;
            }
        }
    });
    let started = Instant::now();
    futures::stream::iter(0..messages)
        .for_each_concurrent(IN_FLIGHT, |_| {
            let channel = channel.clone();
            async move {
                let envelope = vote();
                let body = serde_json::to_vec(&envelope).unwrap();
                let options = BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                };
                let confirm = channel
                    .basic_publish(
                        VOTES.name.into(),
                        VoteCast::TYPE.into(),
                        options,
                        &body,
                        properties(&envelope),
                    )
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                assert!(confirm.is_ack());
            }
        })
        .await;
    let published = started.elapsed();
    consumer.await.unwrap();
    let elapsed = started.elapsed();
    let latencies = latencies.lock().unwrap().clone();
    Report {
        name: "bare lapin",
        messages,
        published,
        elapsed,
        latencies,
    }
}

/// The report with the median rate of `reports`.
fn median(mut reports: Vec<Report>) -> Report {
    reports.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    reports.swap_remove(reports.len() / 2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("broker") => broker(args).await,
        Some("votes") => votes::run(args).await,
        _ => panic!("usage: warren-bench broker [MESSAGES] [ROUNDS] | votes [VOTES] [CLIENTS]"),
    }
}

/// CPU seconds (user + system) used so far, summed by command name over every process.
pub(crate) fn cpu_by_command() -> std::collections::BTreeMap<String, f64> {
    // Linux reports these in clock ticks of 1/100 s (USER_HZ).
    const TICKS_PER_SECOND: f64 = 100.0;
    let mut totals = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return totals;
    };
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok());
        // utime and stime are fields 14 and 15 of stat; fields[0] here is field 3.
        if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
            *totals
                .entry(stat[open + 1..close].to_owned())
                .or_insert(0.0) += (user + system) / TICKS_PER_SECOND;
        }
    }
    totals
}

/// Prints the CPU each command used between two readings, per unit of work, largest first.
pub(crate) fn print_cpu(
    title: &str,
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    wall: Duration,
    units: usize,
) {
    let mut used: Vec<(&str, f64)> = after
        .iter()
        .map(|(command, seconds)| {
            (
                command.as_str(),
                seconds - before.get(command).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, seconds)| *seconds > 0.0)
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "{title:<19} {:.2} s wall on {} cores; CPU per message or vote:",
        wall.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    // Kernel workers are left out: a worker born during the run reports its whole life.
    for (command, seconds) in used
        .iter()
        .filter(|(command, _)| !command.starts_with("kworker"))
        .take(6)
    {
        println!(
            "                    {:>6.0} µs  {command}",
            seconds / units.max(1) as f64 * 1e6
        );
    }
}

/// The median bare-lapin rate over `rounds`, for comparisons.
async fn bare_rate(messages: usize, rounds: usize) -> f64 {
    let node = probe_node().await;
    let mut reports = Vec::new();
    let before = cpu_by_command();
    let started = Instant::now();
    for _ in 0..rounds {
        reports.push(bare_lapin(messages, &node).await);
    }
    print_cpu(
        "CPU of bare lapin",
        &before,
        &cpu_by_command(),
        started.elapsed(),
        messages * rounds,
    );
    median(reports).rate()
}

/// The node the library's supervisor picks: bare lapin connects there too, so both sides are
/// equally far from the queue leaders.
async fn probe_node() -> String {
    let settings = broker_settings("vote-service", warren_messages::topology::DEFAULT_VHOST);
    let probe = Broker::new(settings, "bench-probe").unwrap();
    probe.ping().await.unwrap();
    let node = probe.connected_node().await.unwrap();
    probe.close().await;
    node
}

/// The next argument as a count, or `default` without one.
fn count(args: &mut impl Iterator<Item = String>, default: usize, name: &str) -> usize {
    args.next().map_or(default, |n| {
        n.parse()
            .unwrap_or_else(|_| panic!("{name} is a number, not {n:?}"))
    })
}

async fn broker(mut args: impl Iterator<Item = String>) {
    let messages = count(&mut args, 20_000, "MESSAGES");
    let rounds = count(&mut args, 5, "ROUNDS");
    println!(
        "publishing and consuming {messages} messages on a 3-node quorum queue, {IN_FLIGHT} publishes \
         in flight; {rounds} rounds, alternating, each side's median shown\n"
    );
    let node = probe_node().await;
    let (mut bare, mut ours) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate which side goes first so that neither profits from a warmer cluster.
        if round % 2 == 1 {
            bare.push(bare_lapin(messages, &node).await);
            ours.push(library(messages).await);
        } else {
            ours.push(library(messages).await);
            bare.push(bare_lapin(messages, &node).await);
        }
        println!(
            "round {round}: bare lapin {:>8.0} msg/s (confirmed in {:.2}s), warren messages {:>8.0} msg/s (confirmed in {:.2}s)",
            bare[round - 1].rate(),
            bare[round - 1].published.as_secs_f64(),
            ours[round - 1].rate(),
            ours[round - 1].published.as_secs_f64()
        );
    }
    let (bare, ours) = (median(bare), median(ours));
    println!();
    bare.print();
    ours.print();
    println!(
        "\nwarren messages reaches {:.0}% of bare lapin's rate (medians)",
        100.0 * ours.rate() / bare.rate()
    );
}
