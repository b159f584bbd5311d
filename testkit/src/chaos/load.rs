//! Load through the real frontends, as browsers would send it: each form fetched, then
//! posted with the hidden fields it carried. Every attempt goes into a [`Ledger`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;
use warren_messages::events::votes::VoteCast;
use warren_messages::publisher::Outgoing;
use warren_messages::topology::VOTES;
use warren_messages::{Broker, Envelope, Event, MessageProperties, Publisher};

use super::ledger::{Attempt, Ledger, Seen};
use crate::broker_settings;

/// How many times each voter votes, switching options each time.
pub const VOTES_PER_VOTER: usize = 3;

fn client(jar: Option<Arc<reqwest::cookie::Jar>>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15));
    if let Some(jar) = jar {
        builder = builder.cookie_provider(jar);
    }
    builder
        .build()
        .unwrap_or_else(|error| panic!("cannot build an HTTP client: {error}"))
}

/// Fetches `page` and posts its form to `action` with `fields` added; None if the form could
/// not be fetched (that is no attempt: nothing was sent).
async fn submit(
    client: &reqwest::Client,
    base: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Option<(Result<reqwest::Response, reqwest::Error>, Duration)> {
    let page = client
        .get(format!("{base}{page}"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut form = crate::web::form_fields(&page, action)?;
    form.extend(
        fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    let sent = Instant::now();
    let response = client
        .post(format!("{base}{action}"))
        .form(&form)
        .send()
        .await;
    Some((response, sent.elapsed()))
}

/// The voter id in vote-service's voter cookie.
fn voter_id(jar: &reqwest::cookie::Jar, base: &str) -> Option<String> {
    use reqwest::cookie::CookieStore;
    let url = base.parse().ok()?;
    let cookies = jar.cookies(&url)?;
    let voter = cookies
        .to_str()
        .ok()?
        .split("; ")
        .find_map(|cookie| cookie.strip_prefix("warren_voter="))?
        .to_owned();
    // The first UUID in the cookie's value, whatever else it carries.
    (0..voter.len().saturating_sub(35)).find_map(|at| {
        voter
            .get(at..at + 36)
            .and_then(|text| Uuid::parse_str(text).ok())
            .map(|id| id.to_string())
    })
}

/// Clients voting until `stop` is set: each takes a new voter who votes
/// [`VOTES_PER_VOTER`] times, switching between the two options, one vote after the other's
/// answer. Each vote is an attempt keyed by the voter id, with the option as what was asked.
/// An attempt under way when `stop` is set finishes and is recorded: a vote cut off
/// mid-request would be present but unrecorded.
pub fn votes(
    bases: Vec<String>,
    clients: usize,
    ledger: Ledger,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|number| {
            let (bases, ledger, stop) = (bases.clone(), ledger.clone(), stop.clone());
            tokio::spawn(async move {
                let mut turn = number;
                while !stop.load(Ordering::Relaxed) {
                    let jar = Arc::new(reqwest::cookie::Jar::default());
                    let client = client(Some(jar.clone()));
                    let first = if turn % 2 == 0 { 0 } else { 1 };
                    for vote in 0..VOTES_PER_VOTER {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        // With several vote-service instances, a voter's votes go to each in
                        // turn, as behind a load balancer.
                        turn += 1;
                        let base = &bases[turn % bases.len()];
                        let option = ["a", "b"][(first + vote) % 2];
                        let Some((response, took)) =
                            submit(&client, base, "/", "/vote", &[("vote", option)]).await
                        else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        let Some(voter) = voter_id(&jar, base) else {
                            continue;
                        };
                        ledger.record(Attempt {
                            key: voter,
                            what: option.to_owned(),
                            seen: Seen::of(&response),
                            at: Instant::now(),
                            took,
                            status: None,
                        });
                    }
                }
            })
        })
        .collect()
}

/// Publishes malformed and unknown-version bodies straight to the votes exchange; returns how
/// many were sent.
pub async fn poison(vhost: &str) -> usize {
    let broker = Arc::new(
        Broker::new(broker_settings("vote-service", vhost), "chaos-poison")
            .unwrap_or_else(|error| panic!("{error}")),
    );
    let publisher = Publisher::new(broker.clone());
    let bodies: Vec<Vec<u8>> = (0..10)
        .map(|n| format!("{{not json {n}").into_bytes())
        .chain((0..5).map(|_| {
            let mut value = serde_json::to_value(Envelope::new(
                "chaos",
                VoteCast {
                    poll: "default".into(),
                    voter_id: Uuid::new_v4(),
                    option: "a".into(),
                },
            ))
            .unwrap_or_default();
            value["schema_version"] = serde_json::json!(99);
            serde_json::to_vec(&value).unwrap_or_default()
        }))
        .collect();
    for body in &bodies {
        publisher
            .publish_raw(Outgoing {
                exchange: VOTES.name,
                routing_key: VoteCast::TYPE,
                body,
                properties: MessageProperties::persistent(),
            })
            .await
            .unwrap_or_else(|error| panic!("publishing poison: {error}"));
    }
    broker.close().await;
    bodies.len()
}

/// One vote published three times with the same envelope (recorded as one attempt, confirmed
/// only if all three were): it must count once.
pub async fn triple(vhost: &str, ledger: &Ledger) {
    let broker = Arc::new(
        Broker::new(broker_settings("vote-service", vhost), "chaos-triple")
            .unwrap_or_else(|error| panic!("{error}")),
    );
    let publisher = Publisher::new(broker.clone());
    let voter = Uuid::new_v4();
    let envelope = Envelope::new(
        "chaos",
        VoteCast {
            poll: "default".into(),
            voter_id: voter,
            option: "b".into(),
        },
    );
    let sent = Instant::now();
    let mut all = true;
    for _ in 0..3 {
        all &= publisher.publish(&envelope).await.is_ok();
    }
    ledger.record(Attempt {
        key: voter.to_string(),
        what: "b".into(),
        seen: if all { Seen::Confirmed } else { Seen::Unknown },
        at: Instant::now(),
        took: sent.elapsed(),
        status: None,
    });
    broker.close().await;
}

/// locker-app as the chaos load uses it: the operator (made by `warren-operator`) who adds the
/// lockers and whose API token the checker reads the lists with, and each simulated user's own
/// browser, signed up and signed in, asking for a locker for themself.
pub struct LockerClient {
    pub base: String,
    /// The operator's browser, signed in.
    pub http: reqwest::Client,
    /// The operator's API token (`Authorization: Bearer`).
    pub token: String,
    /// Each user's browser, signed in: `users[n]` is [`user_name`]`(n)`'s.
    users: Vec<reqwest::Client>,
}

/// The password of every simulated user.
const PASSWORD: &str = crate::accounts::PASSWORD;

/// Signs the browser `client` in as `name`: the sign-in form of the welcome page, answered
/// with the redirect home that sets the session cookie.
async fn sign_in(client: &reqwest::Client, base: &str, name: &str) {
    let signed_in = submit(
        client,
        base,
        "/",
        "/sign-in",
        &[("name", name), ("password", PASSWORD)],
    )
    .await;
    let status = match signed_in {
        Some((Ok(response), _)) => response.status(),
        Some((Err(error), _)) => panic!("signing {name} in: {error}"),
        None => panic!("signing {name} in: no sign-in form"),
    };
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER, "signing {name} in");
}

impl LockerClient {
    /// The operator `operator` (already made) signed in at `base`, with an API token of theirs.
    pub async fn new(base: String, operator: &str) -> Self {
        let http = client(Some(Arc::new(reqwest::cookie::Jar::default())));
        sign_in(&http, &base, operator).await;
        let person = crate::accounts::Person {
            client: http.clone(),
            base: base.clone(),
            name: operator.to_owned(),
        };
        let token = person.api_token("chaos checker").await;
        Self {
            base,
            http,
            token,
            users: Vec::new(),
        }
    }

    /// Posts, as `client`, the form to `action` found on `page`; the status link it redirected
    /// to.
    async fn act_as(
        &self,
        client: &reqwest::Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Option<(Seen, Duration, Option<String>)> {
        let (response, took) = submit(client, &self.base, page, action, fields).await?;
        let seen = Seen::of(&response);
        let status = response.ok().and_then(|response| {
            response
                .headers()
                .get("location")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        });
        Some((seen, took, status))
    }

    /// The request behind a status link, once decided.
    pub async fn status(&self, status: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/api{status}", self.base))
            .send()
            .await
            .ok()?;
        response
            .json::<Value>()
            .await
            .ok()
            .filter(|value| value["pending"] == false)
    }

    async fn decided(&self, status: Option<String>) -> bool {
        let Some(status) = status else { return false };
        crate::eventually(Duration::from_secs(60), || {
            let status = status.clone();
            async move { self.status(&status).await.is_some() }
        })
        .await
    }

    /// The operator adds the lockers; the users sign up and sign in, each in a browser of
    /// their own. Waits for each outcome.
    pub async fn setup(&mut self, users: usize, lockers: usize) {
        for n in 0..lockers {
            let code = format!("C-{n:03}");
            let done = self
                .act_as(
                    &self.http,
                    "/lockers",
                    "/lockers",
                    &[("code", &code), ("location", "Chaos hall")],
                )
                .await;
            assert!(
                self.decided(done.and_then(|(_, _, status)| status)).await,
                "adding locker {code} was never decided"
            );
        }
        for n in 0..users {
            let name = user_name(n);
            let browser = client(Some(Arc::new(reqwest::cookie::Jar::default())));
            let done = self
                .act_as(
                    &browser,
                    "/",
                    "/register",
                    &[("name", &name), ("password", PASSWORD)],
                )
                .await;
            assert!(
                self.decided(done.and_then(|(_, _, status)| status)).await,
                "registering {name} was never decided"
            );
            sign_in(&browser, &self.base, &name).await;
            self.users.push(browser);
        }
    }
}

pub fn user_name(n: usize) -> String {
    format!("user-{n:03}")
}

/// The first `requesting` users ask for a locker once each, for themselves, a few at a time,
/// while the fault happens; the others never ask (so a locker held by one of them was never
/// requested).
pub fn lockers(
    client: Arc<LockerClient>,
    requesting: usize,
    ledger: Ledger,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for (n, browser) in client.users.iter().enumerate().take(requesting) {
            let Some((seen, took, status)) = client.act_as(browser, "/", "/request", &[]).await
            else {
                continue;
            };
            ledger.record(Attempt {
                key: user_name(n),
                what: "request".into(),
                seen,
                at: Instant::now(),
                took,
                status,
            });
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    })
}
