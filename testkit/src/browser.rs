//! A headless Chromium driven over WebDriver (chromedriver, from Debian's `chromium-driver`),
//! for tests that use the pages as a person would. WebDriver is JSON over HTTP, so this is a
//! thin client; screenshots go to `target/screenshots/`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A chromedriver process; dropped, it is killed.
pub struct Driver {
    child: Child,
    base: String,
    client: reqwest::Client,
}

/// One browser window.
pub struct Session {
    base: String,
    client: reqwest::Client,
    profile: PathBuf,
}

impl Driver {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start chromedriver ({error}); scripts/test installs chromium-driver")
            });
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        let ready = crate::eventually(Duration::from_secs(20), || async {
            driver
                .client
                .get(format!("{}/status", driver.base))
                .send()
                .await
                .is_ok()
        })
        .await;
        assert!(ready, "chromedriver did not answer");
        driver
    }

    pub async fn session(&self) -> Session {
        let profile = std::env::temp_dir().join(crate::unique_name("chromium-profile"));
        let arguments = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1000,800".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": arguments },
        }}});
        let response: Value = self
            .client
            .post(format!("{}/session", self.base))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {response}"));
        Session {
            base: format!("{}/session/{id}", self.base),
            client: self.client.clone(),
            profile,
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.start_kill();
    }
}

impl Session {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        if response["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", response["value"]);
        }
        response["value"].clone()
    }

    pub async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The WebDriver id of the first element matching the CSS `selector`.
    async fn element(&self, selector: &str) -> String {
        let element = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": selector })),
            )
            .await;
        element
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Clicks the first element matching the CSS `selector`.
    pub async fn click(&self, selector: &str) {
        let id = self.element(selector).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the first element matching `selector`, after clearing it.
    pub async fn fill(&self, selector: &str, text: &str) {
        let id = self.element(selector).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The text of the first element matching `selector` ("" if none).
    pub async fn text(&self, selector: &str) -> String {
        let script =
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';";
        let value = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({ "script": script, "args": [selector] })),
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Waits (up to 20 s) until the first element matching `selector` holds `expected`;
    /// panics with what it holds instead.
    pub async fn shows(&self, selector: &str, expected: &str) {
        let shown = crate::eventually(std::time::Duration::from_secs(20), || async {
            self.text(selector).await.contains(expected)
        })
        .await;
        assert!(
            shown,
            "{selector} shows {:?}, not {expected:?}",
            self.text(selector).await
        );
    }

    /// Saves a PNG of the window as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let directory = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/screenshots"
        ));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join(format!("{name}.png"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap();
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        self.call(reqwest::Method::DELETE, "", None).await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
