//! Every request to a public listener has an id: the `X-Request-Id` it came with when that is a
//! plain token (a proxy in front may set one), or a new UUID. The request is answered inside a
//! `request{request_id, method, route}` span, so every line logged while answering it carries
//! the id (the publisher's `publishing` and `confirmed` lines among them, with the message's
//! ids: `scripts/trace` goes from a request to its events that way). The answer carries the id
//! back in its `X-Request-Id` header, and one `request answered` line gives its status and time.

use tracing::Span;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;
use warp::http::HeaderValue;
use warp::reply::Response;

use crate::http_metrics::RouteTemplates;

/// The header a request id comes in and goes back in.
pub const HEADER: &str = "x-request-id";

/// The longest request id taken from a request.
const MAX_LENGTH: usize = 128;

/// A request's id, kept with its span (see `span` and `current`).
#[derive(Clone)]
struct RequestId(HeaderValue);

/// The id `given` in a request, if it is a plain token: 1 to 128 characters of letters,
/// digits and `-_.:`. Anything else is replaced, never logged as it came.
pub fn accepted(given: Option<&HeaderValue>) -> Option<&str> {
    let given = given?.to_str().ok()?;
    let plain = given
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte));
    (plain && (1..=MAX_LENGTH).contains(&given.len())).then_some(given)
}

/// The span a request is answered in, with the request's id (given or new).
pub fn span(info: &warp::trace::Info<'_>, templates: &RouteTemplates) -> Span {
    let id = accepted(info.request_headers().get(HEADER))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %info.method(),
        // The route's template, as in the metrics: no name or id from the path in the logs.
        route = templates.label(info.path(), 0),
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        span.with_subscriber(|(span_id, dispatch)| {
            if let Some(data) = dispatch
                .downcast_ref::<Registry>()
                .and_then(|registry| registry.span(span_id))
            {
                data.extensions_mut().insert(RequestId(value));
            }
        });
    }
    span
}

/// The id of the request being answered (inside its span), when logging is on.
pub fn current() -> Option<HeaderValue> {
    Span::current()
        .with_subscriber(|(span_id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            registry
                .span(span_id)?
                .scope()
                .find_map(|span| span.extensions().get::<RequestId>().map(|id| id.0.clone()))
        })
        .flatten()
}

/// `response` with the current request's id in its `X-Request-Id` header.
pub fn tag(mut response: Response) -> Response {
    if let Some(id) = current() {
        response.headers_mut().insert(HEADER, id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_token_is_taken_as_a_request_id() {
        let header = |text: &str| HeaderValue::from_str(text).unwrap();
        let ok = header("0192f8a4-7b1c-7d2e-9f00-1234abcd.5:x_y");
        assert_eq!(accepted(Some(&ok)), ok.to_str().ok());
        for refused in ["", "a b", "a\"b", "<script>", "é", &"x".repeat(129)] {
            let value = HeaderValue::from_bytes(refused.as_bytes()).unwrap();
            assert_eq!(accepted(Some(&value)), None, "{refused:?}");
        }
        assert_eq!(accepted(None), None);
    }
}
