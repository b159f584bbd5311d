//! `POST /vote`: checks the request (size, content type, Origin, CSRF token, option), publishes
//! the vote and answers only after the broker confirmed it. Nothing is published for a request
//! that fails a check; a vote the broker did not confirm is reported as not recorded.

use std::sync::Arc;

use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::Envelope;
use warren_messages::events::votes::VoteCast;

use warren_service_kit::web::{Refusal, form_post, verified_session};

use super::{CHOICE_COOKIE, State, VOTER_COOKIE, with_state};
use crate::startup::SERVICE;

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    vote: Option<String>,
    csrf: Option<String>,
}

pub fn route(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    warp::path!("vote")
        .and(form_post(limit))
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
    let voter = verified_session(&state.csrf, voter.as_deref(), form.csrf.as_deref())
        .map_err(Refusal::reject)?;
    let key = form.vote.unwrap_or_default();
    let option = state.poll.option(&key).ok_or_else(|| {
        Refusal::BadRequest(format!("{key:?} is not an option of this poll")).reject()
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
        return Err(Refusal::Unavailable(format!(
            "your vote was not recorded: {error}. Please try again."
        ))
        .reject());
    }
    let choice = format!(
        "{CHOICE_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
        option.key
    );
    let redirect = warp::reply::with_header(StatusCode::SEE_OTHER, "location", "/");
    Ok(warp::reply::with_header(redirect, "set-cookie", choice).into_response())
}
