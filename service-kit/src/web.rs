//! What the web frontends share: sessions in an HttpOnly cookie, CSRF tokens bound to the
//! session, the checks every form POST passes (size, content type, Origin), and refusals
//! rendered as clear pages.

use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use sha2::Sha256;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// The shortest signing secret a frontend starts with: 32 bytes, HMAC-SHA256's block of output.
pub const MIN_SECRET_BYTES: usize = 32;

/// CSRF tokens: HMAC-SHA256 of the session id under the service's secret, with a purpose label
/// so that one service's tokens mean nothing to another. A token taken from one session's page
/// is worthless with another session's cookie.
#[derive(Clone)]
pub struct Csrf {
    key: Vec<u8>,
    purpose: &'static str,
}

impl Csrf {
    pub fn new(secret: &[u8], purpose: &'static str) -> Self {
        Self {
            key: secret.to_vec(),
            purpose,
        }
    }

    /// From the configured secret (`web.csrf_secret`). A secret shorter than
    /// [`MIN_SECRET_BYTES`] is refused: a short key can be guessed offline from one signed form.
    /// An empty one is replaced by a random one, which suits a single instance only (every
    /// instance behind one address needs the same secret).
    pub fn from_settings(secret: &SecretString, purpose: &'static str) -> anyhow::Result<Self> {
        let secret = secret.expose_secret().as_bytes();
        if secret.is_empty() {
            tracing::warn!(
                "web.csrf_secret is empty: using a random one (instances will not share tokens)"
            );
            let mut random = [0_u8; MIN_SECRET_BYTES];
            rand::rng().fill_bytes(&mut random);
            return Ok(Self::new(&random, purpose));
        }
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "web.csrf_secret (WARREN_WEB__CSRF_SECRET) is {} bytes long; a signing secret must \
             be at least {MIN_SECRET_BYTES} bytes (for example `openssl rand -base64 32`), the \
             same for every instance",
            secret.len()
        );
        Ok(Self::new(secret, purpose))
    }

    /// The same key (also a random one) under another purpose, for another kind of signature.
    pub fn with_purpose(&self, purpose: &'static str) -> Self {
        Self {
            key: self.key.clone(),
            purpose,
        }
    }

    fn mac(&self, session: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(self.purpose.as_bytes());
        mac.update(b":");
        mac.update(session);
        mac
    }

    /// The token for `session` (any bytes: a session id, a request id).
    pub fn token(&self, session: Uuid) -> String {
        self.sign(session.as_bytes())
    }

    /// Constant-time check of `token` for `session`.
    pub fn verify(&self, session: Uuid, token: &str) -> bool {
        self.verify_signature(session.as_bytes(), token)
    }

    /// A signature of `data`, hex encoded.
    pub fn sign(&self, data: &[u8]) -> String {
        hex::encode(self.mac(data).finalize().into_bytes())
    }

    /// Constant-time check of a signature made by `sign`.
    pub fn verify_signature(&self, data: &[u8], signature: &str) -> bool {
        match hex::decode(signature) {
            Ok(bytes) => self.mac(data).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

/// Attempt ids: a fresh random id in every rendered form, signed for the visitor's session,
/// which the form sends back and the service publishes as the event's `message_id`. Sending
/// one form twice (a retry after an unknown outcome, a double click) therefore publishes one
/// message id, which the consumers apply once; a fresh page load gives a new attempt.
#[derive(Clone)]
pub struct Attempts {
    signer: Csrf,
}

impl Attempts {
    /// Signs with `signer`, which should have a purpose of its own (not the CSRF tokens').
    pub fn new(signer: Csrf) -> Self {
        Self { signer }
    }

    fn signed_bytes(session: Uuid, attempt: Uuid) -> [u8; 32] {
        let mut bytes = [0_u8; 32];
        bytes[..16].copy_from_slice(session.as_bytes());
        bytes[16..].copy_from_slice(attempt.as_bytes());
        bytes
    }

    /// A new attempt for a form shown to `session`: `<uuid>.<signature>`.
    pub fn issue(&self, session: Uuid) -> String {
        self.field(session, Uuid::now_v7())
    }

    /// The form field for `attempt` shown to `session` (to offer sending it again).
    pub fn field(&self, session: Uuid, attempt: Uuid) -> String {
        let signature = self.signer.sign(&Self::signed_bytes(session, attempt));
        format!("{}.{signature}", attempt.simple())
    }

    /// The attempt id in `value` if this service issued it to `session`.
    pub fn verify(&self, session: Uuid, value: &str) -> Option<Uuid> {
        let (attempt, signature) = value.split_once('.')?;
        let attempt = Uuid::try_parse(attempt).ok()?;
        self.signer
            .verify_signature(&Self::signed_bytes(session, attempt), signature)
            .then_some(attempt)
    }

    /// The attempt id a form sent: its own if signed for `session`, a fresh one if it sent
    /// none (a page from before attempts, a script: such a send is not safe to repeat), and a
    /// refusal if it was altered or made up.
    pub fn of_form(&self, session: Uuid, value: Option<&str>) -> Result<Uuid, Refusal> {
        match value {
            None => Ok(Uuid::now_v7()),
            Some(value) => self.verify(session, value).ok_or_else(|| {
                Refusal::Forbidden(
                    "the form was altered (its attempt id is not one this site gave you): \
                     reload the page and try again"
                        .into(),
                )
            }),
        }
    }
}

/// A visitor's session: a random id kept in an HttpOnly, SameSite cookie.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub id: Uuid,
    cookie: &'static str,
    new: bool,
}

impl Session {
    /// `response`, setting the cookie if the session is new.
    pub fn attach(&self, response: Response) -> Response {
        if !self.new {
            return response;
        }
        let cookie = format!(
            "{}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
            self.cookie, self.id
        );
        warp::reply::with_header(response, "set-cookie", cookie).into_response()
    }
}

/// The visitor's session from `cookie`, or a new one (pages that show a form).
pub fn session(
    cookie: &'static str,
) -> impl Filter<Extract = (Session,), Error = Infallible> + Clone {
    warp::cookie::optional::<String>(cookie).map(move |value: Option<String>| {
        match value
            .as_deref()
            .and_then(|value| Uuid::parse_str(value).ok())
        {
            Some(id) => Session {
                id,
                cookie,
                new: false,
            },
            None => Session {
                id: Uuid::new_v4(),
                cookie,
                new: true,
            },
        }
    })
}

/// The session a form was sent from, checked against the form's CSRF token.
pub fn verified_session(
    csrf: &Csrf,
    cookie: Option<&str>,
    token: Option<&str>,
) -> Result<Uuid, Refusal> {
    let session = cookie
        .and_then(|value| Uuid::parse_str(value).ok())
        .ok_or_else(|| {
            Refusal::Forbidden("your session has expired: reload the page and try again".into())
        })?;
    if !csrf.verify(session, token.unwrap_or_default()) {
        return Err(Refusal::Forbidden(
            "the form is not valid any more: reload the page and try again".into(),
        ));
    }
    Ok(session)
}

/// The session and attempt id of a sent form: the session checked against the form's CSRF
/// token, then the attempt id against that session (see [`Attempts::of_form`]).
pub fn verified_attempt(
    csrf: &Csrf,
    attempts: &Attempts,
    cookie: Option<&str>,
    token: Option<&str>,
    attempt: Option<&str>,
) -> Result<(Uuid, Uuid), Refusal> {
    let session = verified_session(csrf, cookie, token)?;
    Ok((session, attempts.of_form(session, attempt)?))
}

/// Hands every request the service's shared state.
pub fn with_state<S: Send + Sync + 'static>(
    state: Arc<S>,
) -> impl Filter<Extract = (Arc<S>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A page shown on `GET` with its query `Q`, to the visitor's session from `cookie`.
pub fn page<Q: DeserializeOwned + Send + 'static>(
    cookie: &'static str,
) -> impl Filter<Extract = (Q, Session), Error = Rejection> + Clone {
    warp::get().and(warp::query::<Q>()).and(session(cookie))
}

/// A service's pages and endpoints, with refusals turned into responses by [`recover`], the
/// kit's stylesheet (`/static/warren.css`, which the error pages use) beside them, and every
/// response (page, refusal, redirect, JSON, stream) carrying [`SECURITY_HEADERS`].
pub fn site(
    routes: impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> BoxedFilter<(Response,)> {
    routes
        .or(assets(KIT_ASSETS))
        .unify()
        .recover(recover)
        .unify()
        .map(secured)
        .boxed()
}

/// The policy every frontend page runs under: scripts, styles, images and connections from the
/// site itself only, so no inline script or style (nor a `style=` attribute or `on*=`
/// handler) runs, and an injected one does nothing; forms post to the site only; no page may
/// be framed (against clickjacking); nothing else (plugins, fonts, `<base>`) at all.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// What every response of a frontend tells the browser. `X-Frame-Options` says
/// `frame-ancestors 'none'` again for browsers from before CSP 2. The referrer goes to the
/// site's own pages only: `no-referrer` would make browsers send `Origin: null` on the site's
/// own form posts, which [`form_post`] refuses.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

/// `response` with [`SECURITY_HEADERS`] (a header a route set itself is kept).
pub fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(warp::http::HeaderValue::from_static(value));
    }
    response
}

/// How long a browser keeps an asset without asking again. Assets are not fingerprinted, so a
/// new version reaches every browser within this time.
pub const ASSET_MAX_AGE_SECS: u64 = 3600;

/// A file a frontend serves under `/static/<name>`, embedded in the binary (`include_str!`).
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

impl Asset {
    /// A stylesheet.
    pub const fn css(name: &'static str, body: &'static str) -> Self {
        Self {
            name,
            content_type: "text/css; charset=utf-8",
            body,
        }
    }

    /// A script.
    pub const fn script(name: &'static str, body: &'static str) -> Self {
        Self {
            name,
            content_type: "text/javascript; charset=utf-8",
            body,
        }
    }

    fn reply(&self) -> Response {
        let mut response = Response::new(self.body.into());
        let headers = response.headers_mut();
        headers.insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static(self.content_type),
        );
        headers.insert(
            warp::http::header::CACHE_CONTROL,
            warp::http::HeaderValue::from_str(&format!("public, max-age={ASSET_MAX_AGE_SECS}"))
                .expect("a plain header value"),
        );
        response
    }
}

/// The kit's own assets, served by every [`site`]: the base stylesheet.
const KIT_ASSETS: &[Asset] = &[Asset::css(
    "warren.css",
    include_str!("../static/warren.css"),
)];

/// `GET /static/<name>` for each of `assets`; any other name under `/static/` is not found.
pub fn assets(assets: &'static [Asset]) -> BoxedFilter<(Response,)> {
    warp::path!("static" / String)
        .and(warp::get())
        .and_then(move |name: String| async move {
            assets
                .iter()
                .find(|asset| asset.name == name)
                .map(Asset::reply)
                .ok_or_else(warp::reject::not_found)
        })
        .boxed()
}

/// Why a request was refused; each becomes a clear page with its status.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    BadRequest(String),
    /// Nobody is signed in (or the session has ended): sign in and try again.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what was already done (a form sent again with other values).
    #[error("{0}")]
    Conflict(String),
    #[error("send the form as application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    /// A field of a well-formed request breaks its rule (422 in the JSON API, with the field).
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A dependency (broker, database) cannot serve the request now; nothing was done.
    #[error("{0}")]
    Unavailable(String),
    /// The broker refused the message (a queue at its bound): nothing was done, and the
    /// client should try again in [`BUSY_RETRY_AFTER_SECS`] seconds (503 with `Retry-After`).
    #[error("{0}")]
    Busy(String),
    /// The client sent more than its rate allows (`limits::Limiter`): nothing was done, and it
    /// may try again in `retry_after_secs` (429 with `Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
}

/// The `Retry-After` of a [`Refusal::Busy`]: long enough for a consumer that was merely slow
/// to catch up, short enough that a person retrying by hand is not sent away for long.
pub const BUSY_RETRY_AFTER_SECS: u64 = 5;

impl warp::reject::Reject for Refusal {}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) | Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// `response` (this refusal's page or JSON) with the headers the refusal calls for: a
    /// `Retry-After` when the broker was busy or the client over its rate.
    pub fn with_headers(&self, mut response: Response) -> Response {
        let retry_after = match self {
            Self::Busy(_) => Some(BUSY_RETRY_AFTER_SECS),
            Self::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                warp::http::header::RETRY_AFTER,
                warp::http::HeaderValue::from(seconds),
            );
        }
        response
    }

    pub fn reject(self) -> Rejection {
        warp::reject::custom(self)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// Renders `template` as an HTML response with `status`.
pub fn html(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(body) => warp::reply::with_status(warp::reply::html(body), status).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render a page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The status and message a rejection is shown with.
pub fn explain(rejection: &Rejection) -> (StatusCode, String) {
    if let Some(refusal) = rejection.find::<Refusal>() {
        (refusal.status(), refusal.to_string())
    } else if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "there is no such page".to_owned())
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large".to_owned(),
        )
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "the request needs a Content-Length".to_owned(),
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "that method is not allowed here".to_owned(),
        )
    } else if let Some(error) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        (
            StatusCode::BAD_REQUEST,
            format!("the form cannot be read: {error}"),
        )
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        (
            StatusCode::BAD_REQUEST,
            "the query string cannot be read".to_owned(),
        )
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        (
            StatusCode::BAD_REQUEST,
            "the request cannot be handled".to_owned(),
        )
    }
}

/// Turns every rejection into a page that says what went wrong.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let (status, message) = explain(&rejection);
    let title = status.canonical_reason().unwrap_or("Error");
    let page = html(
        &ErrorPage {
            status: status.as_u16(),
            title,
            message: &message,
        },
        status,
    );
    Ok(match rejection.find::<Refusal>() {
        Some(refusal) => refusal.with_headers(page),
        None => page,
    })
}

/// A browser's POST carries `Origin`; when it does, it must name this very host.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|value| value.to_str().ok()) else {
        return true;
    };
    let host = headers.get("host").and_then(|value| value.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(origin), Some(host)) if origin == host)
}

fn form_content_type(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The checks of a form POST before its body is read: at most `limit` bytes, URL-encoded, and
/// from this site.
pub fn form_post(limit: u64) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::post()
        .and(warp::body::content_length_limit(limit))
        .and(warp::header::headers_cloned())
        .and_then(|headers: HeaderMap| async move {
            if !form_content_type(&headers) {
                return Err(Refusal::UnsupportedMediaType.reject());
            }
            if !same_origin(&headers) {
                return Err(
                    Refusal::Forbidden("this form may only be sent from this site".into()).reject(),
                );
            }
            Ok::<_, Rejection>(())
        })
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_broker_is_a_503_with_retry_after_and_an_outage_without() {
        let busy = recover(Refusal::Busy("busy, try again".into()).reject())
            .await
            .unwrap();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            busy.headers()[warp::http::header::RETRY_AFTER],
            BUSY_RETRY_AFTER_SECS.to_string()
        );
        let down = recover(Refusal::Unavailable("down".into()).reject())
            .await
            .unwrap();
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            down.headers()
                .get(warp::http::header::RETRY_AFTER)
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_client_over_its_rate_is_a_429_with_its_retry_after() {
        let refused = recover(
            Refusal::TooManyRequests {
                message: "slow down".into(),
                retry_after_secs: 7,
            }
            .reject(),
        )
        .await
        .unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[warp::http::header::RETRY_AFTER], "7");
    }

    fn sample_site() -> BoxedFilter<(Response,)> {
        const OWN: &[Asset] = &[Asset::script("app.js", "console.log(1);")];
        let page = warp::path!("page").map(|| warp::reply::html("<p>hi</p>").into_response());
        let json = warp::path!("json").map(|| warp::reply::json(&[1]).into_response());
        let redirect = warp::path!("go").map(|| {
            warp::reply::with_header(StatusCode::SEE_OTHER, "location", "/page").into_response()
        });
        let refused = warp::path!("refused")
            .and_then(|| async { Err::<Response, _>(Refusal::Forbidden("no".into()).reject()) });
        site(
            page.or(json)
                .unify()
                .or(redirect)
                .unify()
                .or(refused)
                .unify()
                .or(assets(OWN))
                .unify(),
        )
    }

    #[tokio::test]
    async fn every_response_of_a_site_carries_the_security_headers() {
        let site = sample_site();
        for (path, status) in [
            ("/page", StatusCode::OK),
            ("/json", StatusCode::OK),
            ("/go", StatusCode::SEE_OTHER),
            ("/refused", StatusCode::FORBIDDEN),
            ("/nowhere", StatusCode::NOT_FOUND),
            ("/static/app.js", StatusCode::OK),
            ("/static/warren.css", StatusCode::OK),
        ] {
            let response = warp::test::request().path(path).reply(&site).await;
            assert_eq!(response.status(), status, "{path}");
            for (name, value) in SECURITY_HEADERS {
                assert_eq!(response.headers()[name], value, "{path}: {name}");
            }
        }
        let csp = CONTENT_SECURITY_POLICY;
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }

    #[tokio::test]
    async fn assets_are_served_with_their_type_and_a_cache_header() {
        let site = sample_site();
        let script = warp::test::request()
            .path("/static/app.js")
            .reply(&site)
            .await;
        assert_eq!(
            script.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(script.headers()["cache-control"], "public, max-age=3600");
        assert_eq!(script.body().as_ref(), b"console.log(1);");
        let css = warp::test::request()
            .path("/static/warren.css")
            .reply(&site)
            .await;
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        let missing = warp::test::request()
            .path("/static/other.js")
            .reply(&site)
            .await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let error_page = String::from_utf8(missing.body().to_vec()).unwrap();
        assert!(error_page.contains("/static/warren.css"), "{error_page}");
        assert!(!error_page.contains("style="), "{error_page}");
        assert!(!error_page.contains("<style"), "{error_page}");
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_short_signing_secret_is_refused_and_named() {
        let short = SecretString::from("x".repeat(MIN_SECRET_BYTES - 1));
        let error = Csrf::from_settings(&short, "vote").err().expect("refused");
        let message = error.to_string();
        assert!(message.contains("WARREN_WEB__CSRF_SECRET"), "{message}");
        assert!(message.contains("31 bytes"), "{message}");
        let long = SecretString::from("x".repeat(MIN_SECRET_BYTES));
        assert!(Csrf::from_settings(&long, "vote").is_ok());
        assert!(Csrf::from_settings(&SecretString::from(""), "vote").is_ok());
    }

    #[test]
    fn a_token_verifies_only_for_its_session_secret_and_purpose() {
        let csrf = Csrf::new(b"secret", "vote");
        let session = Uuid::new_v4();
        let token = csrf.token(session);
        assert!(csrf.verify(session, &token));
        assert!(!csrf.verify(Uuid::new_v4(), &token));
        assert!(!Csrf::new(b"other", "vote").verify(session, &token));
        assert!(!Csrf::new(b"secret", "lockers").verify(session, &token));
        assert!(!csrf.verify(session, "not-hex"));
        assert!(!csrf.verify(session, ""));
    }

    #[test]
    fn an_attempt_verifies_only_for_its_session_and_unaltered() {
        let attempts = Attempts::new(Csrf::new(b"secret", "vote-attempt"));
        let session = Uuid::new_v4();
        let issued = attempts.issue(session);
        let attempt = attempts.verify(session, &issued).unwrap();
        assert_eq!(attempts.of_form(session, Some(&issued)).unwrap(), attempt);
        assert_ne!(
            attempts.verify(session, &attempts.issue(session)),
            Some(attempt)
        );
        assert!(attempts.verify(Uuid::new_v4(), &issued).is_none());
        let (id, signature) = issued.split_once('.').unwrap();
        let other = Uuid::now_v7().simple().to_string();
        assert!(
            attempts
                .verify(session, &format!("{other}.{signature}"))
                .is_none()
        );
        assert!(
            attempts
                .verify(session, &format!("{id}.{}", "0".repeat(64)))
                .is_none()
        );
        assert!(attempts.verify(session, id).is_none());
        assert!(matches!(
            attempts.of_form(session, Some("forged")),
            Err(Refusal::Forbidden(_))
        ));
        assert!(attempts.of_form(session, None).is_ok());
        let other_purpose = Attempts::new(Csrf::new(b"secret", "vote"));
        assert!(other_purpose.verify(session, &issued).is_none());
    }

    #[test]
    fn origin_must_match_the_host_when_present() {
        assert!(same_origin(&headers(&[("host", "localhost:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "localhost:8080"),
            ("origin", "http://localhost:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "localhost:8080"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn only_url_encoded_forms_are_accepted() {
        assert!(form_content_type(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(form_content_type(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8"
        )])));
        assert!(!form_content_type(&headers(&[(
            "content-type",
            "application/json"
        )])));
        assert!(!form_content_type(&headers(&[])));
    }
}
