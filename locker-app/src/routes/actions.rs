//! The forms' POSTs: each checks the request (size, content type, Origin, CSRF token) and its
//! fields, publishes one event, and once the broker confirmed it redirects to the request's
//! status page. A request that fails a check publishes nothing; an event the broker did not
//! confirm is reported as not sent.

use std::sync::Arc;

use serde::Deserialize;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::events::lockers::{LockerAddRequested, validate_code, validate_location};
use warren_messages::events::users::{
    DeletionRequested, LockerWanted, RegistrationRequested, ReleaseWanted, validate_name,
};
use warren_messages::{Envelope, Event};
use warren_service_kit::web::{Refusal, form_post, verified_session};

use super::{SESSION_COOKIE, State, with_state};
use crate::startup::SERVICE;

#[derive(Debug, Deserialize)]
struct UserForm {
    name: Option<String>,
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LockerForm {
    code: Option<String>,
    location: Option<String>,
    csrf: Option<String>,
}

/// The user actions: the path and the event each publishes.
#[derive(Clone, Copy)]
enum Action {
    Register,
    Delete,
    Request,
    Release,
}

/// Publishes `payload` and redirects to its status page once it is confirmed.
async fn send<E: Event>(
    state: &State,
    request_id: Uuid,
    payload: E,
) -> Result<Response, Rejection> {
    let envelope = Envelope::new(SERVICE, payload);
    if let Err(error) = state.publisher.publish(&envelope).await {
        tracing::warn!(%error, message_id = %envelope.message_id, "request not confirmed by the broker");
        return Err(Refusal::Unavailable(format!(
            "your request was not sent: {error}. Nothing was changed; please try again."
        ))
        .reject());
    }
    let location = super::requests::link(state, request_id);
    Ok(warp::reply::with_header(StatusCode::SEE_OTHER, "location", location).into_response())
}

async fn user_action(
    action: Action,
    cookie: Option<String>,
    form: UserForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    verified_session(&state.csrf, cookie.as_deref(), form.csrf.as_deref())
        .map_err(Refusal::reject)?;
    let name = form.name.unwrap_or_default().trim().to_owned();
    validate_name(&name).map_err(|error| Refusal::BadRequest(error).reject())?;
    let request_id = Uuid::now_v7();
    match action {
        Action::Register => {
            send(
                &state,
                request_id,
                RegistrationRequested { request_id, name },
            )
            .await
        }
        Action::Delete => send(&state, request_id, DeletionRequested { request_id, name }).await,
        Action::Request => send(&state, request_id, LockerWanted { request_id, name }).await,
        Action::Release => send(&state, request_id, ReleaseWanted { request_id, name }).await,
    }
}

async fn add_locker(
    cookie: Option<String>,
    form: LockerForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    verified_session(&state.csrf, cookie.as_deref(), form.csrf.as_deref())
        .map_err(Refusal::reject)?;
    let code = form.code.unwrap_or_default().trim().to_uppercase();
    let location = form.location.unwrap_or_default().trim().to_owned();
    validate_code(&code).map_err(|error| Refusal::BadRequest(error).reject())?;
    validate_location(&location).map_err(|error| Refusal::BadRequest(error).reject())?;
    let request_id = Uuid::now_v7();
    send(
        &state,
        request_id,
        LockerAddRequested {
            request_id,
            code,
            location,
        },
    )
    .await
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    let user = |path: &'static str, action: Action| {
        warp::path(path)
            .and(warp::path::end())
            .and(form_post(limit))
            .and(warp::cookie::optional::<String>(SESSION_COOKIE))
            .and(warp::body::form::<UserForm>())
            .and(with_state(state.clone()))
            .and_then(move |cookie, form, state| user_action(action, cookie, form, state))
            .boxed()
    };
    let add = warp::path!("lockers")
        .and(form_post(limit))
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(warp::body::form::<LockerForm>())
        .and(with_state(state.clone()))
        .and_then(add_locker);
    user("register", Action::Register)
        .or(user("delete", Action::Delete))
        .unify()
        .or(user("request", Action::Request))
        .unify()
        .or(user("release", Action::Release))
        .unify()
        .or(add)
        .unify()
        .boxed()
}
