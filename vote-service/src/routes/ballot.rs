//! `GET /`: the ballot. A new visitor gets a random voter id in an HttpOnly, SameSite cookie.

use std::sync::Arc;

use askama::Template;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

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
                    hostname: &state.hostname,
                };
                voter.attach(html(&page, StatusCode::OK))
            },
        )
        .boxed()
}
