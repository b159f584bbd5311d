//! The security matrix: every mutating route of locker-app × every way a request can be
//! wrong about who sends it or what it sends, each refused with its exact status before
//! anything is published.
//!
//! The system runs with user-service and locker-service stopped, so their queues keep whatever
//! arrives. Each refused request is followed by these looks: a tap queue bound with `#` to every
//! exchange (read live) holds nothing, every other queue of the vhost (read live) holds nothing,
//! every count the management API has for a queue is what it was (a count not in yet is
//! unknown, not a change), and the accounts database (sessions, API tokens) is as it was. Every cell that does not apply to
//! a route is listed with the reason, and each route has a control: the same request, allowed,
//! does publish (one message, of the route's event, with the asker as actor, and one more in
//! the queues) or, for the routes that publish nothing, does change the accounts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::time::Duration;

use deadpool_postgres::Pool;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use warren_manifest::{ACCOUNTS_DB, LOCKER_APP, LOCKERS_DB, USER_SERVICE, USERS_DB};
use warren_messages::Event;
use warren_messages::events::lockers::{LockerAddRequested, LockerRetireRequested};
use warren_messages::events::users::{
    DeletionRequested, LockerWanted, PromotionRequested, RegistrationRequested, ReleaseWanted,
};
use warren_testkit::accounts::{PASSWORD, Person, Tap};
use warren_testkit::services::Wiring;
use warren_testkit::{Running, broker_settings, eventually, mongo_as, spawn, web};

/// A foreign site's pages.
const FOREIGN_ORIGIN: &str = "http://evil.example";

/// Who a route is for.
#[derive(Clone, Copy, PartialEq)]
enum Who {
    /// Anyone, signed in or not (sign-up).
    Anyone,
    /// The session that sends it, for itself (sign-out).
    OwnSession,
    /// A member for their own account (or an operator for anyone).
    Member,
    /// Operators only.
    Operator,
}

/// How a route takes its input.
#[derive(Clone, Copy, PartialEq)]
enum Body {
    Form,
    Json,
}

/// What the allowed request does.
#[derive(Clone, Copy)]
enum Effect {
    /// Publishes one event of this type.
    Publishes(&'static str),
    /// Publishes nothing; ends the asker's session.
    EndsSession,
    /// Publishes nothing; makes an API token.
    MakesToken,
    /// Publishes nothing; revokes an API token.
    RevokesToken,
}

struct Route {
    path: String,
    who: Who,
    body: Body,
    /// The form's fields or the JSON body of the allowed request.
    fields: Vec<(&'static str, String)>,
    json: Value,
    effect: Effect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Case {
    NoSession,
    ExpiredSession,
    AnotherMember,
    MemberNeedsOperator,
    BadCsrf,
    ForeignOrigin,
    OversizedBody,
    WrongContentType,
    MalformedJson,
    UnknownFields,
    RevokedToken,
}

const CASES: [Case; 11] = [
    Case::NoSession,
    Case::ExpiredSession,
    Case::AnotherMember,
    Case::MemberNeedsOperator,
    Case::BadCsrf,
    Case::ForeignOrigin,
    Case::OversizedBody,
    Case::WrongContentType,
    Case::MalformedJson,
    Case::UnknownFields,
    Case::RevokedToken,
];

/// The status a case must get on `route`, or why it does not apply there.
fn expected(route: &Route, case: Case) -> Result<StatusCode, &'static str> {
    let json = route.body == Body::Json;
    match case {
        Case::NoSession | Case::ExpiredSession => match route.who {
            Who::Anyone => Err("anyone may sign up: there is no session to lack"),
            _ => Ok(StatusCode::UNAUTHORIZED),
        },
        Case::AnotherMember => match route.who {
            Who::Member => Ok(StatusCode::FORBIDDEN),
            Who::Operator => Err(
                "operators only: any member is refused, which `member where operator is needed` \
                 asserts",
            ),
            Who::OwnSession => Err("sign-out ends the session that sends it and names nobody"),
            Who::Anyone => Err("sign-up acts for no existing account"),
        },
        Case::MemberNeedsOperator => match route.who {
            Who::Operator => Ok(StatusCode::FORBIDDEN),
            _ => Err("a member may do this (for themself)"),
        },
        Case::BadCsrf if json => Err(
            "the API takes no CSRF token: another site's page cannot send application/json or \
             an Authorization header without CORS, and a browser's Origin is checked",
        ),
        Case::BadCsrf => Ok(StatusCode::FORBIDDEN),
        Case::ForeignOrigin => Ok(StatusCode::FORBIDDEN),
        Case::OversizedBody => Ok(StatusCode::PAYLOAD_TOO_LARGE),
        Case::WrongContentType => Ok(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        Case::MalformedJson | Case::UnknownFields if !json => Err(
            "a form body is URL-encoded, not JSON, and a field a form does not know is ignored \
             (browsers send their buttons' names)",
        ),
        Case::MalformedJson | Case::UnknownFields => Ok(StatusCode::BAD_REQUEST),
        Case::RevokedToken if !json => Err("forms authenticate by session cookie only"),
        Case::RevokedToken => Ok(StatusCode::UNAUTHORIZED),
    }
}

/// The API's `code` for `status` (its documented contract).
fn api_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad-request",
        401 => "unauthorized",
        403 => "forbidden",
        413 => "too-large",
        415 => "unsupported-media-type",
        _ => panic!("no case expects {status}"),
    }
}

struct Suite {
    app: Running,
    accounts: Pool,
    tap: Tap,
    max_body_bytes: u64,
    anonymous: Person,
    ada: Person,
    bob: Person,
    operator: Person,
    token: String,
    revoked_token: String,
    /// The token the revoke route revokes.
    victim: uuid::Uuid,
}

/// The accounts database's state that a refused request must leave alone.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Accounts {
    sessions: i64,
    tokens: i64,
    active_tokens: i64,
}

impl Suite {
    async fn start() -> Self {
        let wiring = Wiring::fresh(&[LOCKER_APP, USER_SERVICE]).await;
        let mut users = wiring.start(USER_SERVICE).await;
        let mut settings: locker_app::configuration::Settings =
            warren_testkit::settings(locker_app::configuration::DEFAULTS);
        settings.broker = broker_settings("locker-app", wiring.vhost());
        settings.postgres = wiring.postgres(USERS_DB).as_service(&LOCKER_APP);
        settings.accounts = wiring.postgres(ACCOUNTS_DB).as_service(&LOCKER_APP);
        settings.mongo = mongo_as(wiring.mongo(LOCKERS_DB), &LOCKER_APP);
        let max_body_bytes = settings.web.max_body_bytes;
        let app = spawn(locker_app::startup::build(settings).await.unwrap());
        let base = app.url("");
        let accounts =
            warren_service_kit::postgres::pool(&wiring.postgres(ACCOUNTS_DB).as_admin()).unwrap();

        let operator = Person::operator(&wiring, &base, "op").await;
        let ada = Person::join(&base, "ada").await;
        let bob = Person::join(&base, "bob").await;
        let anonymous = Person::new(&base, "anonymous");
        let token = operator.api_token("matrix").await;
        let revoked_token = operator.api_token("revoked").await;
        let revoked = token_id(&accounts, "revoked").await;
        let form = operator
            .form("/tokens", &format!("/tokens/{revoked}/revoke"), &[])
            .await;
        let answer = operator
            .post(&format!("/tokens/{revoked}/revoke"), &form)
            .await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        operator.api_token("victim").await;
        let victim = token_id(&accounts, "victim").await;

        // From here on nothing consumes: whatever is published stays in the queues.
        assert!(users.stop().await.success());
        let tap = Tap::new(wiring.vhost()).await;
        let empty = eventually(Duration::from_secs(30), || async {
            tap.queued().await.values().all(Vec::is_empty)
        })
        .await;
        assert!(empty, "queues not empty: {:?}", tap.queued().await);
        Self {
            app,
            accounts,
            tap,
            max_body_bytes,
            anonymous,
            ada,
            bob,
            operator,
            token,
            revoked_token,
            victim,
        }
    }

    async fn accounts(&self) -> Accounts {
        let client = self.accounts.get().await.unwrap();
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM api_tokens), \
                 (SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL)",
                &[],
            )
            .await
            .unwrap();
        Accounts {
            sessions: row.get(0),
            tokens: row.get(1),
            active_tokens: row.get(2),
        }
    }

    /// Moves every session of `name` 100 days back (into the past: both deadlines are within
    /// 12 hours), or forward again.
    async fn shift_sessions(&self, name: &str, days: i32) {
        let client = self.accounts.get().await.unwrap();
        let moved = client
            .execute(
                "UPDATE sessions SET idle_expires_at = idle_expires_at + make_interval(days => $2), \
                 expires_at = expires_at + make_interval(days => $2) WHERE name = $1",
                &[&name, &days],
            )
            .await
            .unwrap();
        assert!(moved > 0, "{name} has no session");
    }

    /// Who sends the allowed request of `route`.
    fn asker(&self, route: &Route) -> &Person {
        match route.who {
            Who::Anyone => &self.anonymous,
            Who::OwnSession | Who::Member => &self.ada,
            Who::Operator => &self.operator,
        }
    }

    /// Sends `route`'s request as `case` makes it.
    async fn send(&self, route: &Route, case: Option<Case>) -> reqwest::Response {
        match route.body {
            Body::Form => self.send_form(route, case).await,
            Body::Json => self.send_json(route, case).await,
        }
    }

    async fn send_form(&self, route: &Route, case: Option<Case>) -> reqwest::Response {
        let sender = match case {
            Some(Case::NoSession) => &self.anonymous,
            Some(Case::AnotherMember) => &self.bob,
            Some(Case::MemberNeedsOperator) => &self.ada,
            _ => self.asker(route),
        };
        let (mut csrf, attempt) = sender.tokens().await;
        if case == Some(Case::BadCsrf) {
            // A real token, of another session.
            csrf = self.bob.tokens().await.0;
            assert_ne!(csrf, self.asker(route).tokens().await.0);
        }
        let mut form: Vec<(String, String)> = route
            .fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        form.push(("csrf".into(), csrf));
        form.push(("attempt".into(), attempt));
        if case == Some(Case::OversizedBody) {
            let size = usize::try_from(self.max_body_bytes).unwrap() + 1;
            form.push(("note".into(), "x".repeat(size)));
        }
        let mut request = sender
            .client
            .post(sender.url(&route.path))
            .form(&form)
            .build()
            .unwrap();
        self.finish(&mut request, case);
        if case == Some(Case::ExpiredSession) {
            self.shift_sessions(&sender.name, -100).await;
            let response = sender.client.execute(request).await.unwrap();
            self.shift_sessions(&sender.name, 100).await;
            response
        } else {
            sender.client.execute(request).await.unwrap()
        }
    }

    async fn send_json(&self, route: &Route, case: Option<Case>) -> reqwest::Response {
        // The operator's routes are called with an API token; a member's with their session.
        let bearer = match (case, route.who) {
            (Some(Case::RevokedToken), _) => Some(self.revoked_token.as_str()),
            (
                Some(
                    Case::NoSession
                    | Case::ExpiredSession
                    | Case::AnotherMember
                    | Case::MemberNeedsOperator,
                ),
                _,
            )
            | (_, Who::Member) => None,
            _ => Some(self.token.as_str()),
        };
        let sender: Option<&Person> = match case {
            Some(Case::NoSession) => None,
            Some(Case::AnotherMember) => Some(&self.bob),
            Some(Case::MemberNeedsOperator) => Some(&self.ada),
            _ => Some(self.asker(route)),
        };
        let client = sender.map_or_else(web::browser, |person| person.client.clone());
        let body = match case {
            Some(Case::MalformedJson) => {
                let text = route.json.to_string();
                text[..text.len() - 1].to_owned()
            }
            Some(Case::UnknownFields) => {
                let mut body = route.json.clone();
                body["role"] = json!("operator");
                body.to_string()
            }
            Some(Case::OversizedBody) => {
                let mut body = route.json.clone();
                let size = usize::try_from(self.max_body_bytes).unwrap() + 1;
                body["note"] = json!("x".repeat(size));
                body.to_string()
            }
            _ => route.json.to_string(),
        };
        let mut builder = client
            .post(self.app.url(&route.path))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(bearer) = bearer {
            builder = builder.bearer_auth(bearer);
        }
        let mut request = builder.build().unwrap();
        self.finish(&mut request, case);
        match (case, sender) {
            (Some(Case::ExpiredSession), Some(sender)) => {
                self.shift_sessions(&sender.name, -100).await;
                let response = client.execute(request).await.unwrap();
                self.shift_sessions(&sender.name, 100).await;
                response
            }
            _ => client.execute(request).await.unwrap(),
        }
    }

    /// What a case changes in the headers of an otherwise allowed request.
    fn finish(&self, request: &mut reqwest::Request, case: Option<Case>) {
        match case {
            Some(Case::ForeignOrigin) => {
                request
                    .headers_mut()
                    .insert("origin", HeaderValue::from_static(FOREIGN_ORIGIN));
            }
            Some(Case::WrongContentType) => {
                request
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            }
            _ => {}
        }
    }
}

async fn token_id(accounts: &Pool, label: &str) -> uuid::Uuid {
    let client = accounts.get().await.unwrap();
    client
        .query_one("SELECT id FROM api_tokens WHERE label = $1", &[&label])
        .await
        .unwrap()
        .get(0)
}

fn routes(suite: &Suite) -> Vec<Route> {
    let form = |path: &str, who, fields: &[(&'static str, &str)], effect| Route {
        path: path.to_owned(),
        who,
        body: Body::Form,
        fields: fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        json: Value::Null,
        effect,
    };
    let api = |path: &str, who, json: Value, effect| Route {
        path: path.to_owned(),
        who,
        body: Body::Json,
        fields: Vec::new(),
        json,
        effect,
    };
    vec![
        form(
            "/register",
            Who::Anyone,
            &[("name", "carol"), ("password", PASSWORD)],
            Effect::Publishes(RegistrationRequested::TYPE),
        ),
        form("/sign-out", Who::OwnSession, &[], Effect::EndsSession),
        form(
            "/request",
            Who::Member,
            &[("name", "ada")],
            Effect::Publishes(LockerWanted::TYPE),
        ),
        form(
            "/release",
            Who::Member,
            &[("name", "ada")],
            Effect::Publishes(ReleaseWanted::TYPE),
        ),
        form(
            "/delete",
            Who::Member,
            &[("name", "ada")],
            Effect::Publishes(DeletionRequested::TYPE),
        ),
        form(
            "/promote",
            Who::Operator,
            &[("name", "ada")],
            Effect::Publishes(PromotionRequested::TYPE),
        ),
        form(
            "/lockers",
            Who::Operator,
            &[("code", "S-1"), ("location", "Hall S")],
            Effect::Publishes(LockerAddRequested::TYPE),
        ),
        form(
            "/lockers/retire",
            Who::Operator,
            &[("code", "S-1")],
            Effect::Publishes(LockerRetireRequested::TYPE),
        ),
        form(
            "/tokens",
            Who::Operator,
            &[("label", "another")],
            Effect::MakesToken,
        ),
        form(
            &format!("/tokens/{}/revoke", suite.victim),
            Who::Operator,
            &[],
            Effect::RevokesToken,
        ),
        api(
            "/api/lockers",
            Who::Operator,
            json!({"code": "S-2", "location": "Hall S"}),
            Effect::Publishes(LockerAddRequested::TYPE),
        ),
        api(
            "/api/users",
            Who::Operator,
            json!({"name": "dora", "password": PASSWORD}),
            Effect::Publishes(RegistrationRequested::TYPE),
        ),
        api(
            "/api/users/ada/locker-requests",
            Who::Member,
            json!({}),
            Effect::Publishes(LockerWanted::TYPE),
        ),
    ]
}

/// Checks a refused answer: its status, and on the API the one error shape (naming the
/// unknown field). Returns what is wrong, if anything.
async fn check_refusal(
    route: &Route,
    case: Case,
    expected: StatusCode,
    response: reqwest::Response,
) -> Option<String> {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status != expected {
        return Some(format!("got {status}, expected {expected}: {body:.300}"));
    }
    if route.body == Body::Json {
        let Ok(error) = serde_json::from_str::<Value>(&body) else {
            return Some(format!("not JSON: {body:.300}"));
        };
        let shape = error.as_object().is_some_and(|outer| outer.len() == 1)
            && error["error"].as_object().is_some_and(|inner| {
                inner.len() == 3
                    && inner.get("code") == Some(&json!(api_code(expected)))
                    && inner["message"].as_str().is_some_and(|m| !m.is_empty())
                    && (inner["field"].is_null() || inner["field"].is_string())
            });
        if !shape {
            return Some(format!("not the error shape: {error}"));
        }
        if case == Case::UnknownFields && error["error"]["field"] != "role" {
            return Some(format!("the unknown field is not named: {error}"));
        }
    }
    None
}

#[tokio::test]
async fn every_mutating_route_refuses_every_bad_request_and_publishes_nothing() {
    let suite = Suite::start().await;
    let routes = routes(&suite);
    let baseline = suite.tap.depths().await;
    let accounts = suite.accounts().await;
    let mut table = String::new();
    let mut failures = Vec::new();
    for route in &routes {
        for case in CASES {
            match expected(route, case) {
                Err(reason) => {
                    writeln!(
                        table,
                        "{:40} {case:?}: not applicable: {reason}",
                        route.path
                    )
                    .unwrap();
                }
                Ok(status) => {
                    let response = suite.send(route, Some(case)).await;
                    let mut wrong = check_refusal(route, case, status, response).await;
                    let published = suite.tap.take().await;
                    if !published.is_empty() {
                        wrong
                            .get_or_insert_with(String::new)
                            .push_str(&format!(" published {}", Value::Array(published)));
                    }
                    let queued: Vec<String> = suite
                        .tap
                        .queued()
                        .await
                        .into_iter()
                        .filter(|(_, messages)| !messages.is_empty())
                        .map(|(queue, messages)| format!("{queue}: {}", Value::Array(messages)))
                        .collect();
                    if !queued.is_empty() {
                        wrong
                            .get_or_insert_with(String::new)
                            .push_str(&format!(" queued {queued:?}"));
                    }
                    // A count the management API has now and had before must be unchanged. A
                    // missing count (the statistics of the queue leader's node not in yet) is
                    // unknown, not a change: the live read above is what proves the queues hold
                    // nothing new.
                    let depths = suite.tap.depths().await;
                    let changed: Vec<&String> = depths
                        .iter()
                        .filter(|(queue, now)| {
                            matches!(
                                (now, baseline.get(*queue)),
                                (Some(now), Some(Some(before))) if now != before
                            )
                        })
                        .map(|(queue, _)| queue)
                        .collect();
                    if !changed.is_empty() {
                        wrong
                            .get_or_insert_with(String::new)
                            .push_str(&format!(" queues {depths:?}, were {baseline:?}"));
                    }
                    let now = suite.accounts().await;
                    if now != accounts {
                        wrong
                            .get_or_insert_with(String::new)
                            .push_str(&format!(" accounts {now:?}, were {accounts:?}"));
                    }
                    let verdict = wrong.as_deref().unwrap_or("ok");
                    writeln!(table, "{:40} {case:?}: {status}: {verdict}", route.path).unwrap();
                    if let Some(wrong) = wrong {
                        failures.push(format!("{} × {case:?}: {wrong}", route.path));
                    }
                }
            }
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The controls: each route's allowed request does what it is for. Sign-out comes last, as
    // it ends the session the others use.
    let (last, first): (Vec<&Route>, Vec<&Route>) = routes
        .iter()
        .partition(|route| matches!(route.effect, Effect::EndsSession));
    let mut sent = Vec::new();
    for route in first.into_iter().chain(last) {
        sent.extend(control(&suite, route).await);
    }
    // Each published control is in the queues once, and nothing else is: read live.
    let queued = suite.tap.queued().await;
    let mut found: Vec<String> = queued
        .values()
        .flatten()
        .map(|message| {
            message["properties"]["message_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    found.sort();
    sent.sort();
    assert_eq!(found, sent, "the queues hold {queued:?}");
    let depths = suite.tap.depths().await;
    if depths.values().all(Option::is_some) {
        let grown = eventually(Duration::from_secs(30), || async {
            let total: u64 = suite.tap.depths().await.values().flatten().sum();
            total == baseline.values().flatten().sum::<u64>() + sent.len() as u64
        })
        .await;
        assert!(grown, "the queues' counts: {:?}", suite.tap.depths().await);
    } else {
        println!("the management API has no counts for some queues: {depths:?}");
    }
    suite.app.stop().await;
}

/// The allowed request of `route`, and its effect; returns the message id it published, if it
/// publishes.
async fn control(suite: &Suite, route: &Route) -> Option<String> {
    let before = suite.accounts().await;
    let response = suite.send(route, None).await;
    let status = response.status();
    let location = response.headers().get("location").cloned();
    let body = response.text().await.unwrap_or_default();
    let published = suite.tap.take().await;
    let after = suite.accounts().await;
    match route.effect {
        Effect::Publishes(event_type) => {
            let expected = match route.body {
                Body::Form => StatusCode::SEE_OTHER,
                Body::Json => StatusCode::ACCEPTED,
            };
            assert_eq!(status, expected, "{}: {body:.300}", route.path);
            assert!(location.is_some(), "{}: no Location", route.path);
            assert_eq!(published.len(), 1, "{}: {published:?}", route.path);
            let message = &published[0];
            assert_eq!(message["routing_key"], event_type, "{}", route.path);
            let envelope: Value =
                serde_json::from_str(message["payload"].as_str().unwrap()).unwrap();
            let actor = envelope.pointer("/payload/actor").cloned();
            // A registration names no actor: the account is the one asking for itself.
            if event_type != RegistrationRequested::TYPE {
                let asker = &suite.asker(route).name;
                assert_eq!(actor, Some(json!(asker)), "{}: {envelope}", route.path);
            }
            assert_eq!(after, before, "{}", route.path);
            Some(
                message["properties"]["message_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
        Effect::EndsSession => {
            assert_eq!(status, StatusCode::SEE_OTHER, "{}: {body:.300}", route.path);
            assert!(published.is_empty(), "{published:?}");
            assert_eq!(after.sessions, before.sessions - 1);
            None
        }
        Effect::MakesToken => {
            assert_eq!(status, StatusCode::OK, "{}: {body:.300}", route.path);
            assert!(body.contains("<code id=\"token\">"), "{body}");
            assert!(published.is_empty(), "{published:?}");
            assert_eq!(after.tokens, before.tokens + 1);
            None
        }
        Effect::RevokesToken => {
            assert_eq!(status, StatusCode::SEE_OTHER, "{}: {body:.300}", route.path);
            assert!(published.is_empty(), "{published:?}");
            assert_eq!(after.active_tokens, before.active_tokens - 1);
            None
        }
    }
}
