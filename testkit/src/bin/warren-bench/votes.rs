//! `warren-bench votes`: the voting app end to end, as its users drive it.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use secrecy::ExposeSecret;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use warren_messages::topology::TALLY_VOTES;
use warren_testkit::{amqp_nodes, broker_password, env, eventually, postgres_database, vhost_with};

struct Service {
    name: &'static str,
    child: Child,
    port: u16,
}

async fn start(
    name: &'static str,
    vhost: &str,
    database: &warren_service_kit::postgres::PostgresSettings,
) -> Service {
    let port = warren_testkit::free_port();
    let admin_port = warren_testkit::free_port();
    let binary = PathBuf::from(env("WARREN_ROOT"))
        .join("target/release")
        .join(name);
    let child = Command::new(&binary)
        .env("WARREN_HTTP__PORT", port.to_string())
        .env("WARREN_ADMIN__PORT", admin_port.to_string())
        .env("WARREN_BROKER__NODES", amqp_nodes().join(","))
        .env("WARREN_BROKER__VHOST", vhost)
        .env("WARREN_BROKER__PASSWORD", broker_password(name))
        .env("WARREN_POSTGRES__URL", database.url.expose_secret())
        .env(
            "WARREN_POSTGRES__PASSWORD",
            database.password.expose_secret(),
        )
        .env("WARREN_TELEMETRY__FILTER", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
    let ready = eventually(Duration::from_secs(60), || async move {
        reqwest::get(format!("http://127.0.0.1:{admin_port}/readyz"))
            .await
            .is_ok_and(|response| response.status().is_success())
    })
    .await;
    assert!(ready, "{name} did not become ready");
    Service { name, child, port }
}

/// Peak resident memory of a process, in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A new voter's cookie and CSRF token, as the ballot page gives them.
async fn new_voter(client: &reqwest::Client, base: &str) -> (String, String) {
    let response = client.get(format!("{base}/")).send().await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    (cookie, page[start..].split('"').next().unwrap().to_owned())
}

/// One HTTP/1.1 keep-alive connection posting the queue's votes until it is empty; returns how
/// many were confirmed (answered 303). Written on the raw socket so that the load generator,
/// which shares the machine with what it measures, spends as little CPU as it can.
async fn post_votes(
    port: u16,
    queue: &Mutex<Vec<(String, String)>>,
    posted: &Mutex<Vec<Instant>>,
) -> usize {
    let mut confirmed = 0;
    let mut connection: Option<BufReader<TcpStream>> = None;
    loop {
        let Some((cookie, token)) = queue.lock().unwrap().pop() else {
            return confirmed;
        };
        let body = format!("vote=a&csrf={token}");
        let request = format!(
            "POST /vote HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let sent = Instant::now();
        if connection.is_none() {
            connection = TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(BufReader::new);
        }
        let status = match connection.as_mut() {
            Some(stream) => exchange(stream, request.as_bytes()).await,
            None => None,
        };
        if status == Some(303) {
            confirmed += 1;
            posted.lock().unwrap().push(sent);
        }
        if status.is_none() {
            connection = None;
        }
    }
}

/// Writes one request and reads its response; the status, or None if the connection failed.
async fn exchange(stream: &mut BufReader<TcpStream>, request: &[u8]) -> Option<u16> {
    stream.get_mut().write_all(request).await.ok()?;
    let mut line = String::new();
    stream.read_line(&mut line).await.ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0;
    loop {
        line.clear();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(status)
}

pub async fn run(mut args: impl Iterator<Item = String>) {
    let votes = crate::count(&mut args, 3_000, "VOTES");
    let clients = crate::count(&mut args, 50, "CLIENTS");
    let bare_before = crate::bare_rate(20_000, 3).await;
    let vhost = vhost_with(&[TALLY_VOTES]).await;
    let database = postgres_database().await;
    // tally-worker migrates the schema that vote-service reads.
    let mut worker = start("tally-worker", &vhost, &database).await;
    let mut vote = start("vote-service", &vhost, &database).await;
    let base = format!("http://127.0.0.1:{}", vote.port);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Every vote is a new voter; the ballot pages are fetched before the clock starts.
    let voters: Vec<(String, String)> = futures::stream::iter(0..votes)
        .map(|_| new_voter(&client, &base))
        .buffer_unordered(clients)
        .collect()
        .await;

    // Watch the tally, recording when each total was first seen. Every 20 ms: finer polling
    // would load the service it measures (each poll is a count query).
    let seen = Arc::new(Mutex::new(Vec::<(usize, Instant)>::new()));
    let watching = {
        let (seen, client, url) = (seen.clone(), client.clone(), format!("{base}/api/results"));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                let Ok(response) = client.get(&url).send().await else {
                    continue;
                };
                let Ok(tally) = response.json::<serde_json::Value>().await else {
                    continue;
                };
                let total = tally["total"].as_u64().unwrap_or(0) as usize;
                let mut seen = seen.lock().unwrap();
                if seen.last().is_none_or(|(last, _)| total > *last) {
                    seen.push((total, Instant::now()));
                }
                if total >= votes {
                    return;
                }
            }
        })
    };

    let posted = Arc::new(Mutex::new(Vec::<Instant>::with_capacity(votes)));
    let queue = Arc::new(Mutex::new(voters));
    let cpu_before = crate::cpu_by_command();
    let started = Instant::now();
    let posting: Vec<_> = (0..clients)
        .map(|_| {
            let (queue, posted, port) = (queue.clone(), posted.clone(), vote.port);
            tokio::spawn(async move { post_votes(port, &queue, &posted).await })
        })
        .collect();
    let mut confirmed = 0;
    for client in posting {
        confirmed += client.await.unwrap();
    }
    let post_phase = started.elapsed();
    let cpu_after = crate::cpu_by_command();
    let last_post = Instant::now();
    assert!(
        tokio::time::timeout(Duration::from_secs(120), watching)
            .await
            .is_ok(),
        "the tally never showed every vote"
    );
    let seen = seen.lock().unwrap().clone();
    let all_visible = seen.last().unwrap().1;
    // The k-th vote sent is counted visible when the tally first showed at least k votes.
    let mut sent = posted.lock().unwrap().clone();
    sent.sort();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .enumerate()
        .map(|(k, at)| {
            let visible = seen
                .iter()
                .find(|(total, _)| *total > k)
                .map_or(all_visible, |(_, when)| *when);
            visible.saturating_duration_since(*at)
        })
        .collect();
    latencies.sort();
    let rate = confirmed as f64 / post_phase.as_secs_f64();
    let memory: Vec<(&str, f64)> = [&vote, &worker]
        .iter()
        .map(|service| (service.name, peak_rss_mib(service.child.id().unwrap_or(0))))
        .collect();
    vote.child.kill().await.ok();
    worker.child.kill().await.ok();

    let bare_after = crate::bare_rate(20_000, 3).await;
    // The broker is compared at its best: on the fresh cluster or after the run, whichever is
    // faster.
    let bare = bare_before.max(bare_after);
    println!(
        "{votes} votes as {votes} new voters from {clients} concurrent clients, through the web form\n"
    );
    println!(
        "confirmed           {confirmed} of {votes} ({} refused)",
        votes - confirmed
    );
    println!(
        "accepted            {rate:.0} votes/s ({:.2}s for all POSTs)",
        post_phase.as_secs_f64()
    );
    println!(
        "tallied             all {votes} visible in /api/results {:.3}s after the last POST was answered",
        all_visible
            .saturating_duration_since(last_post)
            .as_secs_f64()
    );
    println!(
        "POST to visible     p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    for (name, mib) in memory {
        println!("peak memory         {name}: {mib:.1} MiB");
    }
    crate::print_cpu(
        "CPU while posting",
        &cpu_before,
        &cpu_after,
        post_phase,
        confirmed,
    );
    println!(
        "bare lapin          {bare_before:.0} msg/s before the votes, {bare_after:.0} msg/s after (medians of 3 rounds of 20,000)"
    );
    println!(
        "end to end          {:.0}% of the faster bare broker rate",
        100.0 * rate / bare
    );
}
