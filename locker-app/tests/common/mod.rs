//! The locker app as the tests run it: locker-app (in process, on its own accounts database),
//! user-service and locker-service (their binaries, as child processes) on a fresh vhost,
//! PostgreSQL databases and MongoDB database of the test cluster, driven through the web forms
//! like a browser would: members who signed up and signed in, each acting for themself, and an
//! operator made by `warren-operator` who adds the lockers and reads `/api/*`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use warren_manifest::{
    ACCOUNTS_DB, LOCKER_APP, LOCKER_SERVICE, LOCKERS_DB, USER_SERVICE, USERS_DB,
};
use warren_messages::topology::{LOCKER_SERVICE_LOCKERS, USER_SERVICE_USERS};
use warren_testkit::accounts::{Person, make_operator};
use warren_testkit::services::{Process, Wiring};
use warren_testkit::web;
use warren_testkit::{
    Running, TestDatabase, broker_settings, eventually, mongo_as, mongo_database, spawn, vhost_with,
};

pub use warren_testkit::accounts::PASSWORD;

/// The operator the tests make (with `warren-operator`, as scripts/up makes the first one).
pub const OPERATOR: &str = "olga";

/// Stops `process` as SIGTERM does, and waits until it has finished its work in flight.
async fn stop_process(mut process: Process) {
    let status = process.stop().await;
    assert!(status.success(), "{} exited with {status}", process.name());
}

pub struct System {
    pub app: Running,
    pub users: Option<Process>,
    pub lockers: Option<Process>,
    pub vhost: String,
    pub mongo: warren_service_kit::mongo::MongoSettings,
    /// The users database, for a test's own look at the rows.
    pub users_db: TestDatabase,
    /// Where user-service and locker-service are started: this test's vhost and databases.
    wiring: Wiring,
}

/// The whole locker app; the two consumers run only if asked (their schema and indexes are
/// made either way).
pub async fn system(users_running: bool, lockers_running: bool) -> System {
    system_with(users_running, lockers_running, |_| {}).await
}

/// The whole locker app, with locker-app's settings changed by `configure`.
pub async fn system_with(
    users_running: bool,
    lockers_running: bool,
    configure: impl FnOnce(&mut locker_app::configuration::Settings),
) -> System {
    let vhost = vhost_with(&[USER_SERVICE_USERS, LOCKER_SERVICE_LOCKERS]).await;
    let database = TestDatabase::create(USERS_DB).await;
    let accounts = TestDatabase::create(ACCOUNTS_DB).await;
    let mongo = mongo_database().await;
    let wiring = Wiring::new(vhost.clone())
        .with_postgres(database.clone())
        .with_postgres(accounts.clone())
        .with_mongo(LOCKERS_DB, mongo.clone());
    let mut settings: locker_app::configuration::Settings =
        warren_testkit::settings(locker_app::configuration::DEFAULTS);
    settings.broker = broker_settings("locker-app", &vhost);
    settings.postgres = database.as_service(&LOCKER_APP);
    settings.accounts = accounts.as_service(&LOCKER_APP);
    settings.mongo = mongo_as(&mongo, &LOCKER_APP);
    configure(&mut settings);
    // user-service first: it migrates the users table that locker-app's accounts read.
    let users = wiring.start(USER_SERVICE).await;
    let mut system = System {
        app: spawn(locker_app::startup::build(settings).await.unwrap()),
        users: Some(users),
        lockers: None,
        vhost,
        mongo,
        users_db: database,
        wiring,
    };
    if !users_running {
        system.stop_user_service().await;
    }
    system.start_locker_service().await;
    if !lockers_running {
        system.stop_locker_service().await;
    }
    system
}

impl System {
    pub async fn start_user_service(&mut self) {
        self.users = Some(self.wiring.start(USER_SERVICE).await);
    }

    pub async fn stop_user_service(&mut self) {
        if let Some(process) = self.users.take() {
            stop_process(process).await;
        }
    }

    pub async fn start_locker_service(&mut self) {
        self.lockers = Some(self.wiring.start(LOCKER_SERVICE).await);
    }

    pub async fn stop_locker_service(&mut self) {
        if let Some(process) = self.lockers.take() {
            stop_process(process).await;
        }
    }

    pub async fn stop(self) {
        self.app.stop().await;
        for process in [self.users, self.lockers].into_iter().flatten() {
            stop_process(process).await;
        }
    }

    pub fn base(&self) -> String {
        self.app.url("")
    }

    /// Makes `name` an operator with [`PASSWORD`], as `warren-operator` does (no user-service
    /// needs to run).
    pub async fn make_operator(&self, name: &str) {
        make_operator(&self.wiring, name, PASSWORD).await;
    }

    /// The operator [`OPERATOR`], made and signed in.
    pub async fn operator(&self) -> Visitor {
        self.make_operator(OPERATOR).await;
        self.signed_in(OPERATOR).await
    }

    /// A new member `name`: signed up on the welcome page (user-service must run), then signed
    /// in.
    pub async fn member(&self, name: &str) -> Visitor {
        Visitor::of(Person::join(&self.base(), name).await).await
    }

    /// A new browser of `name`'s account, signed in with [`PASSWORD`]: a session of its own.
    pub async fn signed_in(&self, name: &str) -> Visitor {
        let person = Person::new(&self.base(), name);
        person.sign_in(PASSWORD).await;
        Visitor::of(person).await
    }

    /// Someone not signed in, with the anonymous session that binds the welcome page's forms.
    pub async fn stranger(&self) -> Visitor {
        Visitor::of(Person::new(&self.base(), "")).await
    }

    /// Someone not signed in (as [`System::stranger`]).
    pub async fn visitor(&self) -> Visitor {
        self.stranger().await
    }
}

/// The hidden fields of the form in `page` that posts to `action`, as a browser sends them.
pub fn form_fields(page: &str, action: &str) -> Vec<(String, String)> {
    web::form_fields(page, action).unwrap_or_else(|| panic!("no form posts to {action}: {page}"))
}

/// A browser at locker-app with its session and the CSRF token bound to it: signed in (a
/// member or an operator) or not.
pub struct Visitor {
    pub client: reqwest::Client,
    pub base: String,
    /// The account's name ("" for someone not signed in).
    pub name: String,
    pub token: String,
}

impl Visitor {
    /// `person`'s browser, with the CSRF token of its session (the first on its home page: the
    /// sign-out form's when signed in, the sign-in form's when not).
    pub async fn of(person: Person) -> Self {
        let page = web::page(&person.client, &person.url("/")).await;
        let token = web::hidden(&page, "csrf").expect("the home page has a form");
        Self {
            client: person.client,
            base: person.base,
            name: person.name,
            token,
        }
    }

    /// GETs `path`, which must answer 200 OK.
    async fn get_ok(&self, path: &str) -> reqwest::Response {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response
    }

    /// The page at `path`, as text.
    pub async fn page(&self, path: &str) -> String {
        self.get_ok(path).await.text().await.unwrap()
    }

    /// Posts `fields` to `action`, as they are.
    pub async fn send(&self, action: &str, fields: &[(String, String)]) -> reqwest::Response {
        self.client
            .post(format!("{}{action}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with this visitor's CSRF token (and no attempt id: each post is new).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &self.token));
        self.client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form that must be accepted; returns the request's status page.
    pub async fn act(&self, path: &str, fields: &[(&str, &str)]) -> String {
        let response = self.post(path, fields).await;
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{}",
            response.text().await.unwrap()
        );
        location.unwrap()
    }

    /// The request's status as JSON, read once.
    pub async fn status(&self, page: &str) -> Value {
        self.get_json(&format!("/api{page}")).await
    }

    /// The request's outcome, once it has one.
    pub async fn outcome(&self, page: &str) -> Value {
        let last = std::sync::Mutex::new(Value::Null);
        let decided = eventually(Duration::from_secs(30), || async {
            let status = self.status(page).await;
            let done = status["pending"] == false;
            *last.lock().unwrap() = status;
            done
        })
        .await;
        let status = last.into_inner().unwrap();
        assert!(decided, "the request stayed pending: {status}");
        status
    }

    /// Sends a form and waits for its outcome.
    pub async fn outcome_of(&self, path: &str, fields: &[(&str, &str)]) -> Value {
        let page = self.act(path, fields).await;
        self.outcome(&page).await
    }

    /// This member's own form to `action` (`/request`, `/release`, `/delete`) from their home
    /// page, sent; waits for its outcome.
    pub async fn own(&self, action: &str) -> Value {
        let form = form_fields(&self.page("/").await, action);
        let response = self.send(action, &form).await;
        let page = warren_testkit::accounts::redirected(response, action).await;
        self.outcome(&page).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.get_ok(path).await.json().await.unwrap()
    }

    /// The stores' check (an operator's): one page of the largest size, which in these tests
    /// covers every name.
    pub async fn reconcile(&self) -> Value {
        self.get_json("/api/reconcile?limit=200").await
    }
}

/// Signs `name` up from a browser not signed in; the outcome JSON.
pub async fn sign_up(system: &System, name: &str) -> Value {
    Person::new(&system.base(), name).sign_up(PASSWORD).await
}

/// The bodies of the messages in `queue` of `vhost`, read live through the management API, not
/// from its statistics (which lag, and are missing while a node's statistics are). Each message
/// is taken and put back at once, which counts as a delivery: read a queue once, not in a loop.
pub async fn queued(vhost: &str, queue: &str) -> Vec<String> {
    let messages = warren_testkit::Management::new()
        .post_json(
            &format!("queues/{vhost}/{queue}/get"),
            &serde_json::json!({
                "count": 100, "ackmode": "reject_requeue_true", "encoding": "auto"
            }),
        )
        .await;
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["payload"].as_str().unwrap().to_owned())
        .collect()
}
