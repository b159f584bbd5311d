//! Accounts in tests, made the way people make them: the first operator by `warren-operator`
//! (user-service's tool, as scripts/up runs it), members by signing up on locker-app's form,
//! sessions by signing in, API tokens on the operators' `/tokens` page. Every client is a
//! [`web::browser`] with its own cookies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use warren_manifest::{READINESS_PATH, Service, USER_SERVICE};
use warren_messages::topology::{self, ExchangeKind};

use crate::Management;
use crate::services::Wiring;
use crate::web;

/// The password the tests' accounts use unless a test chooses another.
pub const PASSWORD: &str = "correct horse battery staple";

/// Makes `name` an operator with `password` in `wiring`'s users database, by running
/// `warren-operator` with user-service's environment (it migrates the database first).
pub async fn make_operator(wiring: &Wiring, name: &str, password: &str) {
    let launch = wiring
        .launch(USER_SERVICE)
        .env("WARREN_OPERATOR_PASSWORD", password);
    let output = launch
        .run_tool_with_args("warren-operator", &["--name", name])
        .await;
    assert!(
        output.status.success(),
        "warren-operator --name {name} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A person at locker-app (`base` is its address): a browser of their own.
pub struct Person {
    pub client: Client,
    pub base: String,
    pub name: String,
}

impl Person {
    /// Someone not signed in.
    pub fn new(base: &str, name: &str) -> Self {
        Self {
            client: web::browser(),
            base: base.trim_end_matches('/').to_owned(),
            name: name.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The page at `path`, as text, whatever its status.
    pub async fn page(&self, path: &str) -> String {
        web::page(&self.client, &self.url(path)).await
    }

    /// The fields of the form on `page_path` that posts to `action`, with `fields` set.
    pub async fn form(
        &self,
        page_path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let page = self.page(page_path).await;
        let mut form = web::form_fields(&page, action)
            .unwrap_or_else(|| panic!("no form on {page_path} posts to {action}: {page}"));
        for (name, value) in fields {
            form.retain(|(key, _)| key != name);
            form.push(((*name).to_owned(), (*value).to_owned()));
        }
        form
    }

    /// Posts `form` to `action` as it is.
    pub async fn post(&self, action: &str, form: &[(String, String)]) -> reqwest::Response {
        self.client
            .post(self.url(action))
            .form(form)
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {action}: {error}"))
    }

    /// Fills the form on `page_path` that posts to `action` and sends it; the answer must be a
    /// redirect to a request's status page, whose address is returned.
    pub async fn act(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> String {
        let form = self.form(page_path, action, fields).await;
        let response = self.post(action, &form).await;
        redirected(response, action).await
    }

    /// A request's status, once it has an outcome (the JSON of `GET /api/requests/…`).
    pub async fn outcome(&self, status_page: &str) -> Value {
        let url = self.url(&format!("/api{status_page}"));
        let last = std::sync::Mutex::new(Value::Null);
        let decided = crate::eventually(Duration::from_secs(30), || async {
            let status: Value = match self.client.get(&url).send().await {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let done = status["pending"] == false;
            *last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
            done
        })
        .await;
        let status = last
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(decided, "the request stayed pending: {status}");
        status
    }

    /// Signs up on the welcome page and waits for user-service's answer (its outcome JSON).
    pub async fn sign_up(&self, password: &str) -> Value {
        let page = self
            .act(
                "/",
                "/register",
                &[("name", &self.name), ("password", password)],
            )
            .await;
        self.outcome(&page).await
    }

    /// Signs in; the answer must be the redirect home with the session cookie.
    pub async fn sign_in(&self, password: &str) {
        let form = self
            .form(
                "/",
                "/sign-in",
                &[("name", &self.name), ("password", password)],
            )
            .await;
        let response = self.post("/sign-in", &form).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{} signing in: {body}",
            self.name
        );
    }

    /// Signs up, then signs in.
    pub async fn join(base: &str, name: &str) -> Self {
        let person = Self::new(base, name);
        let outcome = person.sign_up(PASSWORD).await;
        assert_eq!(outcome["outcome"], "registered", "{name}: {outcome}");
        person.sign_in(PASSWORD).await;
        person
    }

    /// An operator made by `warren-operator`, signed in.
    pub async fn operator(wiring: &Wiring, base: &str, name: &str) -> Self {
        make_operator(wiring, name, PASSWORD).await;
        let person = Self::new(base, name);
        person.sign_in(PASSWORD).await;
        person
    }

    /// A new API token made on `/tokens` (this person must be a signed-in operator).
    pub async fn api_token(&self, label: &str) -> String {
        let form = self.form("/tokens", "/tokens", &[("label", label)]).await;
        let response = self.post("/tokens", &form).await;
        let status = response.status();
        let page = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "creating a token: {page}");
        let start = page
            .find("<code id=\"token\">")
            .map(|at| at + "<code id=\"token\">".len())
            .unwrap_or_else(|| panic!("the page shows no new token: {page}"));
        let end = page[start..].find('<').map_or(page.len(), |at| start + at);
        page[start..end].to_owned()
    }
}

/// The status page a form's answer redirects to; panics with the answer otherwise.
pub async fn redirected(response: reqwest::Response, action: &str) -> String {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::SEE_OTHER, "POST {action}: {body}");
    location.unwrap_or_else(|| panic!("POST {action} redirected nowhere"))
}

impl Person {
    /// The CSRF token and a fresh attempt id of this person's session, read from the home page
    /// (the sign-up form before sign-in, the account page's forms after): what a hand-made form
    /// of theirs needs to pass the checks that bind a form to its session.
    pub async fn tokens(&self) -> (String, String) {
        let page = self.page("/").await;
        let csrf = web::hidden(&page, "csrf")
            .unwrap_or_else(|| panic!("{}'s home page has no CSRF token: {page}", self.name));
        let attempt = web::hidden(&page, "attempt")
            .unwrap_or_else(|| panic!("{}'s home page has no attempt id: {page}", self.name));
        (csrf, attempt)
    }
}

/// A copy of everything the broker is given in a test's vhost: a classic queue bound with `#`
/// to every topic exchange, read live (a `basic.get` through the management API, taking the
/// messages), unlike the queues' counts, which the management API refreshes only every few
/// seconds.
pub struct Tap {
    management: Management,
    vhost: String,
    queue: String,
}

impl Tap {
    /// Declares the tap queue in `vhost` and binds it.
    pub async fn new(vhost: &str) -> Self {
        let management = Management::new();
        let queue = crate::unique_name("tap");
        let bindings: Vec<Value> = topology::EXCHANGES
            .iter()
            .filter(|exchange| exchange.kind == ExchangeKind::Topic)
            .map(|exchange| {
                json!({
                    "source": exchange.name, "vhost": vhost, "destination": queue,
                    "destination_type": "queue", "routing_key": "#", "arguments": {}
                })
            })
            .collect();
        management
            .post(
                "definitions",
                &json!({
                    "queues": [{
                        "name": queue, "vhost": vhost, "durable": true, "auto_delete": false,
                        "arguments": { "x-queue-type": "classic" }
                    }],
                    "bindings": bindings,
                }),
            )
            .await;
        Self {
            management,
            vhost: vhost.to_owned(),
            queue,
        }
    }

    /// The tap queue's name (the queue counts leave it out).
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Takes every message the tap holds now: each as the management API shows it
    /// (`routing_key`, `exchange`, `properties` with `headers`, `payload`).
    pub async fn take(&self) -> Vec<Value> {
        let taken = self
            .management
            .post_json(
                &format!("queues/{}/{}/get", self.vhost, self.queue),
                &json!({
                    "count": 100_000, "ackmode": "ack_requeue_false", "encoding": "auto",
                    "truncate": 10_000_000
                }),
            )
            .await;
        taken.as_array().cloned().unwrap_or_default()
    }

    /// Messages ready or unacknowledged in every queue of the vhost but the tap, by queue, as
    /// the management API counts them (refreshed every few seconds; `None` where it has no
    /// count for the queue, as when the statistics of the queue's node are unavailable).
    pub async fn depths(&self) -> BTreeMap<String, Option<u64>> {
        let queues = self.management.get(&format!("queues/{}", self.vhost)).await;
        queues
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|queue| {
                let name = queue["name"].as_str()?.to_owned();
                (name != self.queue).then(|| (name, queue["messages"].as_u64()))
            })
            .collect()
    }

    /// The messages in every queue of the vhost but the tap, read live: each is taken and put
    /// back at once (which counts as a delivery, so read rarely what consumers will read).
    pub async fn queued(&self) -> BTreeMap<String, Vec<Value>> {
        let mut queued = BTreeMap::new();
        for queue in self.depths().await.into_keys() {
            let messages = self
                .management
                .post_json(
                    &format!("queues/{}/{queue}/get", self.vhost),
                    &json!({
                        "count": 100_000, "ackmode": "reject_requeue_true", "encoding": "auto",
                        "truncate": 10_000_000
                    }),
                )
                .await;
            queued.insert(queue, messages.as_array().cloned().unwrap_or_default());
        }
        queued
    }
}

/// A service binary started with its manifest environment (and `overrides`), every line of its
/// standard output and error written to a log file, as a deployment keeps them: for tests that
/// read all a process wrote, not only its last lines ([`crate::services::Process`] keeps those).
pub struct Logged {
    name: &'static str,
    child: tokio::process::Child,
    log: PathBuf,
    port: String,
}

impl Logged {
    /// Starts `service` of `wiring`, logging to `<dir>/<service>.log`, and waits until its
    /// `/readyz` answers 200.
    pub async fn start(
        wiring: &Wiring,
        service: Service,
        overrides: &[(&str, &str)],
        dir: &Path,
    ) -> Self {
        let launch = overrides
            .iter()
            .fold(wiring.launch(service), |launch, (name, value)| {
                launch.env(name, *value)
            });
        let log = dir.join(format!("{}.log", service.name));
        let file = std::fs::File::create(&log)
            .unwrap_or_else(|error| panic!("{}: {error}", log.display()));
        let stderr = file
            .try_clone()
            .unwrap_or_else(|error| panic!("{}: {error}", log.display()));
        let binary = bin_dir().join(service.name);
        let child = tokio::process::Command::new(&binary)
            .env_clear()
            .envs(launch.environment().iter().cloned())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        let port_of = |variable: &str| {
            launch
                .environment()
                .iter()
                .find(|(name, _)| name == variable)
                .map(|(_, port)| port.clone())
                .unwrap_or_else(|| panic!("{} has no {variable}", service.name))
        };
        let admin_port = port_of("WARREN_ADMIN__PORT");
        let mut logged = Self {
            name: service.name,
            child,
            log,
            port: port_of("WARREN_HTTP__PORT"),
        };
        let url = format!("http://127.0.0.1:{admin_port}{READINESS_PATH}");
        let client = web::browser();
        let mut exited = None;
        let ready = crate::eventually(Duration::from_secs(60), || {
            let exit = logged.child.try_wait().ok().flatten();
            exited = exited.or(exit);
            let request = client.get(&url).send();
            async move {
                exit.is_none()
                    && request
                        .await
                        .is_ok_and(|response| response.status() == StatusCode::OK)
            }
        })
        .await;
        assert!(
            ready && exited.is_none(),
            "{} was not ready (exit: {exited:?}); its log:\n{}",
            service.name,
            logged.output()
        );
        logged
    }

    /// `http://127.0.0.1:<port><path>`, on its public listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Everything it has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and waits until it has exited; returns everything it wrote.
    pub async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = self.child.wait().await;
        assert!(
            status.as_ref().is_ok_and(std::process::ExitStatus::success),
            "{} exited with {status:?}",
            self.name
        );
        self.output()
    }
}

/// The directory of this build's binaries (beside the test executable's `deps`).
fn bin_dir() -> PathBuf {
    let executable = std::env::current_exe()
        .unwrap_or_else(|error| panic!("cannot tell where this executable is: {error}"));
    let dir = executable
        .parent()
        .unwrap_or_else(|| panic!("{} has no directory", executable.display()));
    if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir).to_owned()
    } else {
        dir.to_owned()
    }
}
