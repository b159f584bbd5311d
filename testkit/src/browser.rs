//! A headless Chromium driven over WebDriver (chromedriver, from Debian's `chromium-driver`)
//! through `fantoccini`, for tests that use the pages as a person would; screenshots go to
//! `target/screenshots/`. chromedriver is local and spoken to over plain HTTP, so no TLS.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

/// A chromedriver process; dropped, it is killed.
pub struct Driver {
    child: Child,
    url: String,
}

/// One browser window.
pub struct Session {
    client: Client,
    profile: PathBuf,
}

impl Driver {
    pub async fn start() -> Self {
        let port = crate::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start chromedriver ({error}); scripts/test installs chromium-driver")
            });
        let ready = crate::eventually(Duration::from_secs(20), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(ready, "chromedriver did not answer");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
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
        let mut capabilities = fantoccini::wd::Capabilities::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": "/usr/bin/chromium", "args": arguments }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|error| panic!("no browser session: {error}"));
        Session { client, profile }
    }

    pub fn stop(mut self) {
        let _ = self.child.start_kill();
    }
}

impl Session {
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("WebDriver cannot open {url}: {error}"));
    }

    /// The first element matching the CSS `selector`.
    async fn element(&self, selector: &str) -> Element {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("WebDriver finds no {selector}: {error}"))
    }

    /// Gives the open page's site an HttpOnly cookie on path `/`, as a sign-in at another
    /// frontend of the same host leaves it (cookies do not tell ports apart).
    pub async fn add_cookie(&self, name: &str, value: &str) {
        let url = self
            .client
            .current_url()
            .await
            .unwrap_or_else(|error| panic!("WebDriver has no current page: {error}"));
        // chromedriver refuses a cookie without a domain.
        let text = format!(
            "{name}={value}; Domain={}; Path=/; HttpOnly; SameSite=Lax",
            url.host_str().unwrap_or_default()
        );
        let cookie = fantoccini::cookies::Cookie::parse(text)
            .unwrap_or_else(|error| panic!("not a cookie: {error}"));
        self.client
            .add_cookie(cookie)
            .await
            .unwrap_or_else(|error| panic!("WebDriver cannot set the cookie {name}: {error}"));
    }

    /// Clicks the first element matching the CSS `selector`.
    pub async fn click(&self, selector: &str) {
        self.element(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("WebDriver cannot click {selector}: {error}"));
    }

    /// Types `text` into the first element matching `selector`, after clearing it.
    pub async fn fill(&self, selector: &str, text: &str) {
        let element = self.element(selector).await;
        element
            .clear()
            .await
            .unwrap_or_else(|error| panic!("WebDriver cannot clear {selector}: {error}"));
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|error| panic!("WebDriver cannot type into {selector}: {error}"));
    }

    /// The text of the first element matching `selector` ("" if none).
    pub async fn text(&self, selector: &str) -> String {
        let script =
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';";
        let value = self
            .client
            .execute(script, vec![json!(selector)])
            .await
            .unwrap_or_else(|error| panic!("WebDriver cannot read {selector}: {error}"));
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Waits (up to 20 s) until the first element matching `selector` holds `expected`;
    /// panics with what it holds instead.
    pub async fn shows(&self, selector: &str, expected: &str) {
        let shown = crate::eventually(Duration::from_secs(20), || async {
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
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|error| panic!("WebDriver takes no screenshot: {error}"));
        let directory = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/screenshots"
        ));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        self.client
            .close()
            .await
            .unwrap_or_else(|error| panic!("WebDriver cannot close the window: {error}"));
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
