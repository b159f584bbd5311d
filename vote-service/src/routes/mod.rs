//! The pages and endpoints of vote-service, one file each, and the one place where errors
//! become responses.

mod ballot;
mod results;
mod vote;

use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use deadpool_postgres::Pool;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::Publisher;

use crate::csrf::Csrf;
use crate::domain::Poll;
use crate::live::LiveTally;

/// What every handler needs.
pub struct State {
    pub poll: Arc<Poll>,
    pub publisher: Publisher,
    pub pool: Pool,
    pub csrf: Csrf,
    pub live: LiveTally,
    pub hostname: String,
    pub max_body_bytes: u64,
}

pub const VOTER_COOKIE: &str = "warren_voter";
pub const CHOICE_COOKIE: &str = "warren_choice";

/// Why a request was refused; each becomes a clear page (or JSON under `/api`).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("send the form as application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    #[error("your vote was not recorded: {0}. Please try again.")]
    NotRecorded(String),
    #[error("the results cannot be read right now")]
    ResultsUnavailable,
}

impl warp::reject::Reject for Refusal {}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotRecorded(_) | Self::ResultsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

fn html(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(body) => warp::reply::with_status(warp::reply::html(body), status).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render a page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let (status, message) = if let Some(refusal) = rejection.find::<Refusal>() {
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
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        (
            StatusCode::BAD_REQUEST,
            "the request cannot be handled".to_owned(),
        )
    };
    let title = status.canonical_reason().unwrap_or("Error");
    Ok(html(
        &ErrorPage {
            status: status.as_u16(),
            title,
            message: &message,
        },
        status,
    ))
}

fn with_state(
    state: Arc<State>,
) -> impl Filter<Extract = (Arc<State>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Every page and endpoint, with refusals turned into responses.
pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    ballot::route(state.clone())
        .or(vote::route(state.clone()))
        .unify()
        .or(results::routes(state))
        .unify()
        .recover(recover)
        .unify()
        .boxed()
}
