//! The forms' POSTs: each checks the request (size, content type, Origin), who is asking (the
//! session), the CSRF token and attempt id (bound to that session), that the asker may do it,
//! and the form's fields; publishes one event carrying the asker as its actor; and once the
//! broker confirmed it redirects to the request's status page. A request that fails a check
//! publishes nothing.
//!
//! Who may do what: anyone may sign up (`/register`); a member may request, release and delete
//! for their own account only; an operator for anyone, and only an operator may promote a
//! member or add and retire lockers.
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
use warren_messages::events::lockers::{LockerAddRequested, LockerRetireRequested};
use warren_messages::events::names::{Location, LockerCode, UserName};
use warren_messages::events::users::{
    DeletionRequested, LockerWanted, PromotionRequested, RegistrationRequested, ReleaseWanted,
};
use warren_messages::{Envelope, Event, PublishError};
use warren_service_kit::passwords;
use warren_service_kit::web::{Refusal, form_post, html, verified_attempt};

use super::identity::{Visitor, visitor};
use super::{Nav, State, with_state};
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
    Promote,
}

impl Action {
    fn path(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Delete => "delete",
            Self::Request => "request",
            Self::Release => "release",
            Self::Promote => "promote",
        }
    }

    fn describe(self, name: &str) -> String {
        match self {
            Self::Register => format!("the registration of {name}"),
            Self::Delete => format!("the deletion of {name}"),
            Self::Request => format!("the locker request for {name}"),
            Self::Release => format!("the release of {name}'s locker"),
            Self::Promote => format!("the promotion of {name} to operator"),
        }
    }
}

/// A form as it was sent: what it asked for, to offer it again when its outcome is unknown.
struct Sent {
    nav: Nav,
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
    nav: Nav,
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
                nav: sent.nav,
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

/// The session and request id of a sent form, checked: its CSRF token and attempt id must be
/// those of the visitor's session (the signed-in one, or the anonymous one before sign-in).
fn sent_form(
    state: &State,
    visitor: &Visitor,
    csrf: &Option<String>,
    attempt: &Option<String>,
) -> Result<(Uuid, Uuid), Rejection> {
    let session = visitor.form_session().to_string();
    verified_attempt(
        &state.csrf,
        &state.attempts,
        Some(&session),
        csrf.as_deref(),
        attempt.as_deref(),
    )
    .map_err(Refusal::reject)
}

async fn user_action(
    action: Action,
    visitor: Visitor,
    form: UserForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    // Who is asking comes first: without a session nothing but sign-up is open.
    if !matches!(action, Action::Register) {
        visitor.signed_in()?;
    }
    let (session, request_id) = sent_form(&state, &visitor, &form.csrf, &form.attempt)?;
    let name = String::from(UserName::parse(form.name.unwrap_or_default().trim()).map_err(bad)?);
    let actor = match action {
        Action::Register => visitor
            .identity
            .as_ref()
            .map(|identity| identity.name.clone()),
        Action::Promote => Some(visitor.operator()?.name.clone()),
        Action::Delete | Action::Request | Action::Release => {
            Some(visitor.acting_for(&name)?.name.clone())
        }
    };
    let sent = Sent {
        nav: Nav::of(&state, &visitor),
        session,
        request_id,
        csrf: form.csrf.unwrap_or_default(),
        action: format!("/{}", action.path()),
        what: action.describe(&name),
        fields: vec![("name", name.clone())],
        password: matches!(action, Action::Register),
    };
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
        Action::Promote => {
            let event = PromotionRequested {
                request_id,
                name,
                actor,
            };
            send(&state, event, sent).await
        }
    }
}

async fn add_locker(
    visitor: Visitor,
    form: LockerForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let actor = visitor.operator()?.name.clone();
    let (session, request_id) = sent_form(&state, &visitor, &form.csrf, &form.attempt)?;
    let code =
        LockerCode::parse(form.code.unwrap_or_default().trim().to_uppercase()).map_err(bad)?;
    let location = Location::parse(form.location.unwrap_or_default().trim()).map_err(bad)?;
    let (code, location) = (String::from(code), String::from(location));
    let sent = Sent {
        nav: Nav::of(&state, &visitor),
        session,
        request_id,
        csrf: form.csrf.unwrap_or_default(),
        action: "/lockers".to_owned(),
        what: format!("the addition of locker {code} ({location})"),
        fields: vec![("code", code.clone()), ("location", location.clone())],
        password: false,
    };
    let event = LockerAddRequested {
        request_id,
        code,
        location,
        actor: Some(actor),
    };
    send(&state, event, sent).await
}

async fn retire_locker(
    visitor: Visitor,
    form: LockerForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let actor = visitor.operator()?.name.clone();
    let (session, request_id) = sent_form(&state, &visitor, &form.csrf, &form.attempt)?;
    let code = String::from(
        LockerCode::parse(form.code.unwrap_or_default().trim().to_uppercase()).map_err(bad)?,
    );
    let sent = Sent {
        nav: Nav::of(&state, &visitor),
        session,
        request_id,
        csrf: form.csrf.unwrap_or_default(),
        action: "/lockers/retire".to_owned(),
        what: format!("the retirement of locker {code}"),
        fields: vec![("code", code.clone())],
        password: false,
    };
    let event = LockerRetireRequested {
        request_id,
        code,
        actor: Some(actor),
    };
    send(&state, event, sent).await
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    let user = |action: Action| {
        warp::path(action.path())
            .and(warp::path::end())
            .and(form_post(limit))
            .and(visitor(state.clone()))
            .and(warp::body::form::<UserForm>())
            .and(with_state(state.clone()))
            .and_then(move |visitor, form, state| user_action(action, visitor, form, state))
            .boxed()
    };
    let add = warp::path!("lockers")
        .and(form_post(limit))
        .and(visitor(state.clone()))
        .and(warp::body::form::<LockerForm>())
        .and(with_state(state.clone()))
        .and_then(add_locker);
    let retire = warp::path!("lockers" / "retire")
        .and(form_post(limit))
        .and(visitor(state.clone()))
        .and(warp::body::form::<LockerForm>())
        .and(with_state(state.clone()))
        .and_then(retire_locker);
    user(Action::Register)
        .or(user(Action::Delete))
        .unify()
        .or(user(Action::Request))
        .unify()
        .or(user(Action::Release))
        .unify()
        .or(user(Action::Promote))
        .unify()
        .or(add)
        .unify()
        .or(retire)
        .unify()
        .boxed()
}
