//! The forms' POSTs: each checks the request (size, content type, Origin, CSRF token, attempt
//! id) and its fields, publishes one event, and once the broker confirmed it redirects to the
//! request's status page. A request that fails a check publishes nothing.
//!
//! The form's signed attempt id is the request id and the event's message id, so sending one
//! form again (a double click, a retry) is the same request, handled once, with the same status
//! page. An event the broker certainly did not take is reported as not sent; one whose outcome
//! is unknown is reported as such, with the same form to send again.

use std::sync::Arc;

use askama::Template;
use serde::Deserialize;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::events::lockers::LockerAddRequested;
use warren_messages::events::names::{Location, LockerCode, UserName};
use warren_messages::events::users::{
    DeletionRequested, LockerWanted, RegistrationRequested, ReleaseWanted,
};
use warren_messages::{Envelope, Event, PublishError};
use warren_service_kit::passwords;
use warren_service_kit::web::{Refusal, form_post, html, verified_attempt};

use super::{SESSION_COOKIE, State, with_state};
use crate::startup::SERVICE;

#[derive(Deserialize)]
struct UserForm {
    name: Option<String>,
    /// Registration only: hashed here, never published, logged or shown again.
    password: Option<String>,
    csrf: Option<String>,
    attempt: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LockerForm {
    code: Option<String>,
    location: Option<String>,
    csrf: Option<String>,
    attempt: Option<String>,
}

/// The user actions: the path and the event each publishes.
#[derive(Clone, Copy)]
enum Action {
    Register,
    Delete,
    Request,
    Release,
}

impl Action {
    fn path(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Delete => "delete",
            Self::Request => "request",
            Self::Release => "release",
        }
    }

    fn describe(self, name: &str) -> String {
        match self {
            Self::Register => format!("the registration of {name}"),
            Self::Delete => format!("the deletion of {name}"),
            Self::Request => format!("the locker request for {name}"),
            Self::Release => format!("the release of {name}'s locker"),
        }
    }
}

/// A form as it was sent: what it asked for, to offer it again when its outcome is unknown.
struct Sent {
    session: Uuid,
    /// The form's attempt id: the request id.
    request_id: Uuid,
    csrf: String,
    action: String,
    what: String,
    fields: Vec<(&'static str, String)>,
    /// The form had a password, which the page asks for again rather than echo it.
    password: bool,
}

/// The page for a request whose outcome is unknown: what is known, and the same form again.
#[derive(Template)]
#[template(path = "unconfirmed.html")]
struct Unconfirmed {
    what: String,
    reason: String,
    action: String,
    csrf: String,
    attempt: String,
    fields: Vec<(&'static str, String)>,
    password: bool,
}

/// Publishes `payload` as the request `sent` and redirects to its status page once it is
/// confirmed.
async fn send<E: Event>(state: &State, payload: E, sent: Sent) -> Result<Response, Rejection> {
    let request_id = sent.request_id;
    let mut envelope = Envelope::new(SERVICE, payload);
    envelope.message_id = request_id;
    envelope.correlation_id = request_id;
    match state.publisher.publish(&envelope).await {
        Ok(()) => {
            let location = super::requests::link(state, request_id);
            Ok(
                warp::reply::with_header(StatusCode::SEE_OTHER, "location", location)
                    .into_response(),
            )
        }
        Err(error) if error.outcome_unknown() => {
            tracing::warn!(%error, %request_id, "request not confirmed by the broker: outcome unknown");
            let page = Unconfirmed {
                what: sent.what,
                reason: error.to_string(),
                action: sent.action,
                csrf: sent.csrf,
                attempt: state.attempts.field(sent.session, request_id),
                fields: sent.fields,
                password: sent.password,
            };
            Ok(html(&page, StatusCode::SERVICE_UNAVAILABLE))
        }
        Err(PublishError::Nacked) => {
            // A queue at its bound: the services are behind, not down.
            tracing::warn!(%request_id, "request refused by the broker: busy");
            Err(Refusal::Busy(
                "the locker service is busy right now, so your request was not sent. Nothing was \
                 changed; please try again in a few seconds."
                    .into(),
            )
            .reject())
        }
        Err(error) => {
            tracing::warn!(%error, %request_id, "request not taken by the broker");
            Err(Refusal::Unavailable(format!(
                "your request was not sent: {error}. Nothing was changed; please try again."
            ))
            .reject())
        }
    }
}

/// A field the form got wrong.
fn bad(error: String) -> Rejection {
    Refusal::BadRequest(error).reject()
}

/// The session and request id of a sent form, checked.
fn sent_form(
    state: &State,
    cookie: Option<String>,
    csrf: &Option<String>,
    attempt: &Option<String>,
) -> Result<(Uuid, Uuid), Rejection> {
    verified_attempt(
        &state.csrf,
        &state.attempts,
        cookie.as_deref(),
        csrf.as_deref(),
        attempt.as_deref(),
    )
    .map_err(Refusal::reject)
}

async fn user_action(
    action: Action,
    cookie: Option<String>,
    form: UserForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let (session, request_id) = sent_form(&state, cookie, &form.csrf, &form.attempt)?;
    let name = String::from(UserName::parse(form.name.unwrap_or_default().trim()).map_err(bad)?);
    let sent = Sent {
        session,
        request_id,
        csrf: form.csrf.unwrap_or_default(),
        action: format!("/{}", action.path()),
        what: action.describe(&name),
        fields: vec![("name", name.clone())],
        password: matches!(action, Action::Register),
    };
    let actor = None;
    match action {
        Action::Register => {
            let password = form.password.unwrap_or_default();
            let password_hash = passwords::hash_async(password)
                .await
                .map_err(|error| bad(error.to_string()))?;
            let event = RegistrationRequested {
                request_id,
                name,
                password_hash,
            };
            send(&state, event, sent).await
        }
        Action::Delete => {
            let event = DeletionRequested {
                request_id,
                name,
                actor,
            };
            send(&state, event, sent).await
        }
        Action::Request => {
            let event = LockerWanted {
                request_id,
                name,
                actor,
            };
            send(&state, event, sent).await
        }
        Action::Release => {
            let event = ReleaseWanted {
                request_id,
                name,
                actor,
            };
            send(&state, event, sent).await
        }
    }
}

async fn add_locker(
    cookie: Option<String>,
    form: LockerForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let (session, request_id) = sent_form(&state, cookie, &form.csrf, &form.attempt)?;
    let code =
        LockerCode::parse(form.code.unwrap_or_default().trim().to_uppercase()).map_err(bad)?;
    let location = Location::parse(form.location.unwrap_or_default().trim()).map_err(bad)?;
    let (code, location) = (String::from(code), String::from(location));
    let sent = Sent {
        session,
        request_id,
        csrf: form.csrf.unwrap_or_default(),
        action: "/lockers".to_owned(),
        what: format!("the addition of locker {code} ({location})"),
        fields: vec![("code", code.clone()), ("location", location.clone())],
        password: false,
    };
    send(
        &state,
        LockerAddRequested {
            request_id,
            code,
            location,
            actor: None,
        },
        sent,
    )
    .await
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    let user = |action: Action| {
        warp::path(action.path())
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
    user(Action::Register)
        .or(user(Action::Delete))
        .unify()
        .or(user(Action::Request))
        .unify()
        .or(user(Action::Release))
        .unify()
        .or(add)
        .unify()
        .boxed()
}
