//! `POST /vote`: checks the request (size, content type, Origin, the client address's rate,
//! CSRF token, attempt id, option), publishes the vote and answers only after the broker
//! confirmed it. Nothing is published for a request that fails a check.
//!
//! Voters are anonymous: a voter is the id in their cookie, so dropping the cookie makes a new
//! voter, as in every anonymous poll. What brakes one machine stuffing votes that way is the
//! rate limit per client address (`vote_limit`), which answers 429 with `Retry-After`.
//!
//! The vote's message id is the ballot's attempt id, and its sequence comes from the log the
//! voter carries (`voter_log`), so sending the same ballot again is the same vote, and every
//! new vote is ordered after those the voter sent before. A vote the broker certainly did not
//! take is reported as not recorded; one whose outcome is unknown is reported as such, with
//! the same ballot to send again.

use std::sync::Arc;

use askama::Template;
use serde::Deserialize;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::header::{LOCATION, SET_COOKIE};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::events::votes::{OrderedVoteCast, VoteCast};
use warren_messages::{Envelope, PublishError};

use warren_service_kit::limits::client_address;
use warren_service_kit::web::{Refusal, form_post, html, verified_attempt};

use super::{CHOICE_COOKIE, State, VOTER_COOKIE, with_state};
use crate::domain::PollOption;
use crate::startup::SERVICE;
use crate::voter_log::{self, Plan, VoterLog};

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    vote: Option<String>,
    csrf: Option<String>,
    /// The ballot's signed attempt id (`web::Attempts`).
    attempt: Option<String>,
}

/// The page for a vote whose outcome is unknown: what is known, and the same ballot again.
#[derive(Template)]
#[template(path = "unconfirmed.html")]
struct Unconfirmed<'a> {
    key: &'a str,
    label: &'a str,
    reason: String,
    csrf: &'a str,
    attempt: String,
}

pub fn route(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    warp::path!("vote")
        .and(form_post(limit))
        .and(within_rate(state.clone()))
        .and(warp::cookie::optional::<String>(VOTER_COOKIE))
        .and(warp::cookie::optional::<String>(voter_log::COOKIE))
        .and(warp::body::form::<VoteForm>())
        .and(with_state(state))
        .and_then(cast)
        .boxed()
}

/// The client's address has votes left in its bucket (`vote_limit`); 429 otherwise.
fn within_rate(state: Arc<State>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    client_address(state.clients.clone())
        .and(with_state(state))
        .and_then(|client, state: Arc<State>| async move {
            state
                .vote_limit
                .admit(
                    client,
                    "too many votes from your address: wait a moment and try again",
                )
                .map_err(Refusal::reject)
        })
        .untuple_one()
}

/// Why a ballot sent before cannot be sent now.
fn stale(state: &State, sent: &str, option: &PollOption) -> Refusal {
    let sent = state
        .poll
        .option(sent)
        .map_or(sent, |sent| sent.label.as_str());
    Refusal::Conflict(if sent == option.label {
        format!(
            "this ballot (your vote for {sent}) was sent before, and you have voted again since: \
             load the ballot again to vote for {sent}"
        )
    } else {
        format!(
            "this ballot was already sent with your vote for {sent}: load the ballot again to \
             vote for {}",
            option.label
        )
    })
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    match HeaderValue::from_str(cookie) {
        Ok(value) => {
            response.headers_mut().append(SET_COOKIE, value);
        }
        Err(error) => tracing::error!(%error, "cannot set a cookie"),
    }
    response
}

#[tracing::instrument(skip_all, fields(message_id))]
async fn cast(
    voter: Option<String>,
    log: Option<String>,
    form: VoteForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let (voter, attempt) = verified_attempt(
        &state.csrf,
        &state.attempts,
        voter.as_deref(),
        form.csrf.as_deref(),
        form.attempt.as_deref(),
    )
    .map_err(Refusal::reject)?;
    let key = form.vote.unwrap_or_default();
    let option = state.poll.option(&key).ok_or_else(|| {
        Refusal::BadRequest(format!("{key:?} is not an option of this poll")).reject()
    })?;
    let log = VoterLog::decode(&state.voter_log, voter, log.as_deref());
    let mut envelope = Envelope::new(
        SERVICE,
        OrderedVoteCast {
            vote: VoteCast {
                poll: state.poll.id.clone(),
                voter_id: voter,
                option: option.key.clone(),
            },
            sequence: None,
        },
    );
    envelope.message_id = attempt;
    envelope.correlation_id = attempt;
    let now_ms = state.clock.stamp(&mut envelope);
    let sequence = match log.plan(attempt, &option.key, now_ms) {
        Plan::Send { sequence } => sequence,
        Plan::Stale { option: sent } => return Err(stale(&state, &sent, option).reject()),
    };
    envelope.payload.sequence = Some(sequence);
    tracing::Span::current().record("message_id", tracing::field::display(attempt));
    let result = state.publisher.publish(&envelope).await;
    if let Err(error) = &result
        && !error.outcome_unknown()
    {
        tracing::warn!(%error, "vote not taken by the broker");
        // A refusal (nack) is a queue at its bound: the tally is behind, not down.
        return Err(match error {
            PublishError::Nacked => Refusal::Busy(
                "voting is busy right now, so your vote was not recorded. Please try again in a \
                 few seconds."
                    .into(),
            ),
            _ => Refusal::Unavailable(format!(
                "your vote was not recorded: {error}. Please try again."
            )),
        }
        .reject());
    }
    // Sent, and perhaps recorded: whatever the voter sends next is ordered after it.
    let log = log
        .sent(attempt, &option.key, sequence)
        .cookie(&state.voter_log, voter);
    let response = match result {
        Ok(()) => {
            let mut redirect = StatusCode::SEE_OTHER.into_response();
            redirect
                .headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/"));
            with_cookie(
                redirect,
                &format!(
                    "{CHOICE_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
                    option.key
                ),
            )
        }
        Err(error) => {
            tracing::warn!(%error, "vote not confirmed by the broker: outcome unknown");
            unconfirmed(&state, voter, attempt, option, form.csrf.as_deref(), &error)
        }
    };
    Ok(with_cookie(response, &log))
}

fn unconfirmed(
    state: &State,
    voter: Uuid,
    attempt: Uuid,
    option: &PollOption,
    csrf: Option<&str>,
    error: &dyn std::fmt::Display,
) -> Response {
    let page = Unconfirmed {
        key: &option.key,
        label: &option.label,
        reason: error.to_string(),
        csrf: csrf.unwrap_or_default(),
        attempt: state.attempts.field(voter, attempt),
    };
    html(&page, StatusCode::SERVICE_UNAVAILABLE)
}
