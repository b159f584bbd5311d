//! `POST /vote`: checks the request (size, content type, Origin, CSRF token, option), publishes
//! the vote and answers only after the broker confirmed it. Nothing is published for a request
//! that fails a check; a vote the broker did not confirm is reported as not recorded.

use std::sync::Arc;

use serde::Deserialize;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::Envelope;
use warren_messages::events::votes::VoteCast;

use super::{CHOICE_COOKIE, Refusal, State, VOTER_COOKIE, with_state};
use crate::startup::SERVICE;

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    vote: Option<String>,
    csrf: Option<String>,
}

/// A browser's POST carries `Origin`; when it does, it must name this very host.
fn same_origin(headers: &HeaderMap) -> bool {
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

pub fn route(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    warp::path!("vote")
        .and(warp::post())
        .and(warp::body::content_length_limit(limit))
        .and(warp::header::headers_cloned())
        .and_then(|headers: HeaderMap| async move {
            if !form_content_type(&headers) {
                return Err(warp::reject::custom(Refusal::UnsupportedMediaType));
            }
            if !same_origin(&headers) {
                return Err(warp::reject::custom(Refusal::Forbidden(
                    "this form may only be sent from this site".into(),
                )));
            }
            Ok::<_, Rejection>(())
        })
        .untuple_one()
        .and(warp::cookie::optional::<String>(VOTER_COOKIE))
        .and(warp::body::form::<VoteForm>())
        .and(with_state(state))
        .and_then(cast)
        .boxed()
}

#[tracing::instrument(skip_all, fields(message_id))]
async fn cast(
    voter: Option<String>,
    form: VoteForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let forbidden = |why: &str| warp::reject::custom(Refusal::Forbidden(why.to_owned()));
    let voter = voter
        .as_deref()
        .and_then(|voter| Uuid::parse_str(voter).ok())
        .ok_or_else(|| forbidden("your session has expired: reload the page and vote again"))?;
    let token = form.csrf.unwrap_or_default();
    if !state.csrf.verify(voter, &token) {
        return Err(forbidden(
            "the form is not valid any more: reload the page and vote again",
        ));
    }
    let key = form.vote.unwrap_or_default();
    let option = state.poll.option(&key).ok_or_else(|| {
        warp::reject::custom(Refusal::BadRequest(format!(
            "{key:?} is not an option of this poll"
        )))
    })?;
    let envelope = Envelope::new(
        SERVICE,
        VoteCast {
            poll: state.poll.id.clone(),
            voter_id: voter,
            option: option.key.clone(),
        },
    );
    tracing::Span::current().record("message_id", tracing::field::display(envelope.message_id));
    if let Err(error) = state.publisher.publish(&envelope).await {
        tracing::warn!(%error, "vote not confirmed by the broker");
        return Err(warp::reject::custom(Refusal::NotRecorded(
            error.to_string(),
        )));
    }
    let choice = format!(
        "{CHOICE_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
        option.key
    );
    let redirect = warp::reply::with_header(StatusCode::SEE_OTHER, "location", "/");
    Ok(warp::reply::with_header(redirect, "set-cookie", choice).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
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
