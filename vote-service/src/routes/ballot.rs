//! `GET /`: the ballot. A new visitor gets a random voter id in an HttpOnly, SameSite cookie.
//! Every ballot carries a fresh signed attempt id, the message id of the vote it sends: sending
//! the same ballot again is the same vote, applied once.

use std::sync::Arc;

use askama::Template;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use warren_service_kit::web::{Session, html, session};

use super::{CHOICE_COOKIE, State, VOTER_COOKIE, with_state};
use crate::domain::PollOption;

#[derive(Template)]
#[template(path = "ballot.html")]
struct Ballot<'a> {
    question: &'a str,
    options: &'a [PollOption],
    choice: Option<&'a PollOption>,
    csrf: String,
    attempt: String,
    hostname: &'a str,
}

pub fn route(state: Arc<State>) -> BoxedFilter<(Response,)> {
    warp::path::end()
        .and(warp::get())
        .and(session(VOTER_COOKIE))
        .and(warp::cookie::optional::<String>(CHOICE_COOKIE))
        .and(with_state(state))
        .map(
            |voter: Session, choice: Option<String>, state: Arc<State>| {
                let page = Ballot {
                    question: &state.poll.question,
                    options: &state.poll.options,
                    choice: choice.as_deref().and_then(|key| state.poll.option(key)),
                    csrf: state.csrf.token(voter.id),
                    attempt: state.attempts.issue(voter.id),
                    hostname: &state.hostname,
                };
                // Not kept by the browser: going back to the ballot gives a new attempt.
                let page = html(&page, StatusCode::OK);
                voter.attach(
                    warp::reply::with_header(page, "cache-control", "no-store").into_response(),
                )
            },
        )
        .boxed()
}
