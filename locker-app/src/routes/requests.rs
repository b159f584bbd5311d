//! `GET /requests/{id}?sig=...`: a request's status, pending until its outcome has been
//! projected, then the outcome in words; the page polls `GET /api/requests/{id}?sig=...`
//! (or, without JavaScript, refreshes itself) until then. The signature proves that this
//! locker-app sent the request, so a made-up id is not shown as pending forever.

use std::sync::Arc;

use askama::Template;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_service_kit::web::{Refusal, html};

use super::{State, with_state};

#[derive(Debug, Serialize)]
pub struct Status {
    pub request_id: Uuid,
    pub pending: bool,
    pub outcome: Option<String>,
    pub locker: Option<String>,
    pub message: String,
    /// Where the user goes next.
    pub next: String,
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    nav: super::Nav,
    status: Status,
    api_url: String,
}

#[derive(Deserialize)]
struct Signature {
    sig: Option<String>,
}

/// The link to a request's status page.
pub fn link(state: &State, request_id: Uuid) -> String {
    format!(
        "/requests/{request_id}?sig={}",
        state.links.sign(request_id.as_bytes())
    )
}

/// The outcome in words.
fn describe(kind: &str, outcome: &str, name: &str, locker: Option<&str>) -> String {
    let locker = locker.unwrap_or("?");
    match (kind, outcome) {
        (_, "registered") => format!("{name} is registered."),
        (_, "name-taken") => format!("The name {name} is taken."),
        (_, "deleted") => format!("{name} was deleted."),
        (_, "no-such-user") => format!("There is no user {name}."),
        (_, "assigned") => format!("{name} got locker {locker}."),
        (_, "none-free") => "No locker is free right now.".to_owned(),
        (_, "already-holds") => format!("{name} already holds locker {locker}."),
        (_, "released") => format!("{name} released locker {locker}."),
        (_, "holds-none") => format!("{name} holds no locker."),
        (_, "promoted") => format!("{name} is now an operator."),
        (_, "already-operator") => format!("{name} is already an operator."),
        (_, "added") => format!("Locker {locker} was added."),
        (_, "code-taken") => format!("There is already a locker {locker}."),
        (_, "code-retired") => format!("Locker {locker} was retired; its code is not used again."),
        (_, "retired") => format!("Locker {locker} was retired."),
        (_, "no-such-locker") => format!("There is no locker {locker}."),
        (_, "held") => format!("Locker {locker} is held by {name}: release it first."),
        (_, "already-retired") => format!("Locker {locker} was already retired."),
        (kind, outcome) => format!("The {kind} request ended: {outcome}."),
    }
}

/// A decided locker request's outcome and who asked for it, if an account did.
fn asked_by(message: String, actor: Option<&str>) -> String {
    match actor {
        Some(actor) => format!("{message} (Asked by {actor}.)"),
        None => message,
    }
}

/// What a pending request asked for, in words.
fn pending(kind: &str, name: &str) -> String {
    match kind {
        "register" => format!("the registration of {name}"),
        "delete" => format!("the deletion of {name}"),
        "request" => format!("the locker request for {name}"),
        "release" => format!("the release of {name}'s locker"),
        "promote" => format!("the promotion of {name} to operator"),
        other => format!("the {other} request for {name}"),
    }
}

/// Reads a request's status from the store that decides it.
pub async fn status(state: &State, request_id: Uuid) -> anyhow::Result<Status> {
    if let Some(request) = warren_store_users::request(&state.users, request_id).await? {
        // Home: a member's own account (an operator's navigation leads on to the users).
        let next = "/".to_owned();
        return Ok(match request.outcome {
            Some(outcome) => Status {
                request_id,
                pending: false,
                message: describe(
                    &request.kind,
                    &outcome,
                    &request.name,
                    request.locker.as_deref(),
                ),
                outcome: Some(outcome),
                locker: request.locker,
                next,
            },
            None => Status {
                request_id,
                pending: true,
                outcome: None,
                locker: None,
                message: format!(
                    "Pending: {} is being handled.",
                    pending(&request.kind, &request.name)
                ),
                next,
            },
        });
    }
    let decided = warren_store_lockers::request(&state.lockers, &request_id.to_string()).await?;
    Ok(match decided {
        Some(request) => Status {
            request_id,
            pending: false,
            message: asked_by(
                describe(
                    &request.kind,
                    &request.outcome,
                    request.user.as_deref().unwrap_or("someone"),
                    request.locker.as_deref(),
                ),
                request.actor.as_deref(),
            ),
            outcome: Some(request.outcome),
            locker: request.locker,
            next: "/lockers".to_owned(),
        },
        None => Status {
            request_id,
            pending: true,
            outcome: None,
            locker: None,
            message: "Pending: your request is queued and will be handled as soon as it can be."
                .to_owned(),
            next: "/".to_owned(),
        },
    })
}

async fn checked_status(
    id: String,
    signature: Signature,
    state: &State,
) -> Result<Status, Rejection> {
    let not_found = || Refusal::NotFound("there is no such request".into()).reject();
    let request_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let signed = signature
        .sig
        .is_some_and(|sig| state.links.verify_signature(request_id.as_bytes(), &sig));
    if !signed {
        return Err(not_found());
    }
    let status = status(state, request_id).await.map_err(|error| {
        tracing::warn!(error = %format!("{error:#}"), "cannot read a request's status");
        Refusal::Unavailable("the request's status cannot be read right now".into()).reject()
    })?;
    // The request id is the correlation id of every event the request caused (`journey`).
    if status.pending {
        tracing::debug!(stage = "read", correlation_id = %request_id, "request still pending");
    } else {
        tracing::info!(
            stage = "read",
            correlation_id = %request_id,
            outcome = status.outcome.as_deref(),
            "outcome read"
        );
    }
    Ok(status)
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let page = warp::path!("requests" / String)
        .and(warp::get())
        .and(warp::query::<Signature>())
        .and(super::identity::visitor(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |id: String,
             signature: Signature,
             visitor: super::identity::Visitor,
             state: Arc<State>| async move {
                let status = checked_status(id, signature, &state).await?;
                let api_url = format!("/api{}", link(&state, status.request_id));
                let nav = super::Nav::of(&state, &visitor);
                let page = RequestPage {
                    nav,
                    status,
                    api_url,
                };
                Ok::<_, Rejection>(html(&page, StatusCode::OK))
            },
        );
    let api = warp::path!("api" / "requests" / String)
        .and(warp::get())
        .and(warp::query::<Signature>())
        .and(with_state(state))
        .and_then(
            |id: String, signature: Signature, state: Arc<State>| async move {
                let status = checked_status(id, signature, &state).await?;
                Ok::<_, Rejection>(warp::reply::json(&status).into_response())
            },
        );
    page.or(api).unify().boxed()
}

#[cfg(test)]
mod promotion_tests {
    use super::*;

    #[test]
    fn a_promotion_is_described_in_words() {
        assert_eq!(
            describe("promote", "promoted", "ada", None),
            "ada is now an operator."
        );
        assert_eq!(
            describe("promote", "already-operator", "ada", None),
            "ada is already an operator."
        );
        assert_eq!(
            describe("promote", "no-such-user", "ada", None),
            "There is no user ada."
        );
        assert_eq!(
            pending("promote", "ada"),
            "the promotion of ada to operator"
        );
    }
}

#[cfg(test)]
mod retirement_tests {
    use super::*;

    #[test]
    fn a_retirement_and_who_asked_are_described_in_words() {
        let retire = |outcome, name| describe("retire", outcome, name, Some("A-1"));
        assert_eq!(retire("retired", "someone"), "Locker A-1 was retired.");
        assert_eq!(
            retire("held", "ada"),
            "Locker A-1 is held by ada: release it first."
        );
        assert_eq!(
            retire("no-such-locker", "someone"),
            "There is no locker A-1."
        );
        assert_eq!(
            retire("already-retired", "someone"),
            "Locker A-1 was already retired."
        );
        assert_eq!(
            describe("add", "code-retired", "someone", Some("A-1")),
            "Locker A-1 was retired; its code is not used again."
        );
        assert_eq!(
            asked_by(retire("retired", "someone"), Some("olga")),
            "Locker A-1 was retired. (Asked by olga.)"
        );
        assert_eq!(
            asked_by("Locker A-1 was added.".into(), None),
            "Locker A-1 was added."
        );
    }
}
