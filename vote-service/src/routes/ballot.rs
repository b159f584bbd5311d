//! `GET /`: the ballot. A new visitor gets a random voter id in an HttpOnly, SameSite cookie.

use std::sync::Arc;

use askama::Template;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{CHOICE_COOKIE, State, VOTER_COOKIE, html, with_state};
use crate::domain::PollOption;

#[derive(Template)]
#[template(path = "ballot.html")]
struct Ballot<'a> {
    question: &'a str,
    options: &'a [PollOption],
    choice: Option<&'a PollOption>,
    csrf: String,
    hostname: &'a str,
}

pub fn voter_cookie(voter: Uuid) -> String {
    format!("{VOTER_COOKIE}={voter}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax")
}

pub fn route(state: Arc<State>) -> BoxedFilter<(Response,)> {
    warp::path::end()
        .and(warp::get())
        .and(warp::cookie::optional::<String>(VOTER_COOKIE))
        .and(warp::cookie::optional::<String>(CHOICE_COOKIE))
        .and(with_state(state))
        .map(
            |voter: Option<String>, choice: Option<String>, state: Arc<State>| {
                let known = voter
                    .as_deref()
                    .and_then(|voter| Uuid::parse_str(voter).ok());
                let voter = known.unwrap_or_else(Uuid::new_v4);
                let page = Ballot {
                    question: &state.poll.question,
                    options: &state.poll.options,
                    choice: choice.as_deref().and_then(|key| state.poll.option(key)),
                    csrf: state.csrf.token(voter),
                    hostname: &state.hostname,
                };
                let response = html(&page, StatusCode::OK);
                if known.is_some() {
                    response
                } else {
                    warp::reply::with_header(response, "set-cookie", voter_cookie(voter))
                        .into_response()
                }
            },
        )
        .boxed()
}
