//! What the frontends' JSON APIs share: one error shape, `{"error": {"code", "message",
//! "field"}}`, with the status that fits; the checks of a JSON body before it is read (size,
//! content type, Origin) and while it is read (well-formed, no unknown fields); and the bearer
//! token of a request.

use std::convert::Infallible;

use serde::de::DeserializeOwned;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::web::{Refusal, explain, same_origin};

/// The `code` of an error with `status`: stable words that programs can match on.
pub fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad-request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not-found",
        405 => "method-not-allowed",
        409 => "conflict",
        411 => "length-required",
        413 => "too-large",
        415 => "unsupported-media-type",
        422 => "invalid",
        429 => "too-many-requests",
        503 => "unavailable",
        _ => "error",
    }
}

/// An error in the API's one shape.
pub fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let body = serde_json::json!({
        "error": { "code": code_of(status), "message": message, "field": field }
    });
    let mut response = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            warp::http::header::WWW_AUTHENTICATE,
            warp::http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// Turns every rejection of an API route into the error shape (with `Retry-After` where the
/// refusal calls for one).
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let (status, message) = explain(&rejection);
    let refusal = rejection.find::<Refusal>();
    let field = match refusal {
        Some(Refusal::Invalid { field, .. }) => Some(*field),
        _ => rejection
            .find::<BodyError>()
            .and_then(|error| error.field.as_deref()),
    };
    // A body the route could not read is a 400 even when another route on the same path
    // refused the method (warp's combined rejection would be 405).
    let (status, message) = match (refusal, rejection.find::<BodyError>()) {
        (None, Some(error)) => (StatusCode::BAD_REQUEST, error.message.clone()),
        _ => (status, message),
    };
    let response = error(status, &message, field);
    Ok(match refusal {
        Some(refusal) => refusal.with_headers(response),
        None => response,
    })
}

/// A body that is not the JSON the route takes (400): malformed, or with a field it does not
/// know, which it names.
#[derive(Debug)]
struct BodyError {
    message: String,
    field: Option<String>,
}

impl warp::reject::Reject for BodyError {}

impl BodyError {
    fn of(error: &serde_json::Error) -> Self {
        let text = error.to_string();
        // serde names an unknown or missing field between backquotes: "unknown field `x`".
        let field = (text.starts_with("unknown field") || text.starts_with("missing field"))
            .then(|| text.split('`').nth(1).map(str::to_owned))
            .flatten();
        let message = if error.is_syntax() || error.is_eof() {
            format!("the body is not well-formed JSON: {text}")
        } else {
            format!("the body cannot be read: {text}")
        };
        Self { message, field }
    }
}

fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// A POST's JSON body as `T`, checked first: at most `limit` bytes (413), `application/json`
/// (415), and, when a browser sent it, from this site (403); then well-formed JSON of exactly
/// `T`'s fields (400, naming an unknown field: give `T` `#[serde(deny_unknown_fields)]`).
pub fn json_body<T: DeserializeOwned + Send + 'static>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::post()
        .and(warp::body::content_length_limit(limit))
        .and(warp::header::headers_cloned())
        .and_then(|headers: HeaderMap| async move {
            if !json_content_type(&headers) {
                return Err(Refusal::UnsupportedMediaType.reject());
            }
            if !same_origin(&headers) {
                return Err(Refusal::Forbidden(
                    "this API may not be called from another site's pages".into(),
                )
                .reject());
            }
            Ok::<_, Rejection>(())
        })
        .untuple_one()
        .and(warp::body::bytes())
        .and_then(|body: bytes::Bytes| async move {
            serde_json::from_slice::<T>(&body)
                .map_err(|error| warp::reject::custom(BodyError::of(&error)))
        })
}

/// The bearer token of `Authorization: Bearer <token>`, if the request has one.
pub fn bearer() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::headers_cloned().map(|headers: HeaderMap| {
        let value = headers
            .get(warp::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        value.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        code: String,
    }

    async fn answer(request: warp::test::RequestBuilder) -> (StatusCode, serde_json::Value) {
        let route = warp::path!("api")
            .and(json_body::<Body>(64))
            .map(|_body: Body| warp::reply().into_response())
            .recover(recover)
            .unify();
        let response = request.reply(&route).await;
        let status = response.status();
        let body = serde_json::from_slice(response.body()).unwrap_or_default();
        (status, body)
    }

    fn post(body: &str) -> warp::test::RequestBuilder {
        warp::test::request()
            .method("POST")
            .path("/api")
            .header("content-type", "application/json")
            .body(body)
    }

    #[tokio::test]
    async fn every_bad_body_gets_its_status_in_the_one_shape() {
        let (status, _) = answer(post(r#"{"code": "A1"}"#)).await;
        assert_eq!(status, StatusCode::OK);

        let (status, body) = answer(post(r#"{"code": "#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "bad-request");
        assert!(body["error"]["message"].as_str().unwrap().contains("JSON"));

        let (status, body) = answer(post(r#"{"code": "A1", "role": "operator"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["field"], "role");

        let (status, body) = answer(post(&format!(r#"{{"code": "{}"}}"#, "x".repeat(80)))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "too-large");

        let (status, body) = answer(
            warp::test::request()
                .method("POST")
                .path("/api")
                .header("content-type", "text/plain")
                .body(r#"{"code": "A1"}"#),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["error"]["code"], "unsupported-media-type");

        let (status, body) = answer(
            post(r#"{"code": "A1"}"#)
                .header("host", "lockers.localhost")
                .header("origin", "http://evil.example"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["code"], "forbidden");
    }

    #[tokio::test]
    async fn an_unreadable_body_is_a_400_beside_a_get_route_on_the_same_path() {
        let route = warp::path!("api")
            .and(warp::get())
            .map(|| warp::reply().into_response())
            .or(warp::path!("api")
                .and(json_body::<Body>(64))
                .map(|_body: Body| warp::reply().into_response()))
            .unify()
            .recover(recover)
            .unify();
        for (body, field) in [
            (r#"{"code": "#, None),
            (r#"{"code": "A1", "x": 1}"#, Some("x")),
        ] {
            let response = post(body).reply(&route).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
            let answer: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(answer["error"]["code"], "bad-request");
            assert_eq!(answer["error"]["field"].as_str(), field);
        }
    }

    #[tokio::test]
    async fn a_bearer_token_is_read_from_authorization() {
        let read = |value: &'static str| {
            let request = warp::test::request().header("authorization", value);
            async move { request.filter(&bearer()).await.unwrap() }
        };
        assert_eq!(read("Bearer abc").await.as_deref(), Some("abc"));
        assert_eq!(read("bearer  abc ").await.as_deref(), Some("abc"));
        assert_eq!(read("Basic abc").await, None);
        assert_eq!(warp::test::request().filter(&bearer()).await.unwrap(), None);
    }
}
