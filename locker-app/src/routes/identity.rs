//! Who is asking, for every route: the signed-in identity of the session cookie (or, on the
//! JSON API, of an API token), checked on the server at every request, and the rules of who may
//! do what. A form is bound to the session it was shown to: its CSRF token and attempt id are
//! signed for the signed-in session's id (for someone not signed in, for the anonymous
//! `warren_session` cookie), so a form taken from one session is worthless in another.

use std::sync::Arc;

use uuid::Uuid;
use warp::{Filter, Rejection};
use warren_service_kit::web::{Refusal, Session, session};
use warren_store_accounts::Identity;

use super::{SESSION_COOKIE, State, with_state};
use crate::accounts::ACCOUNT_COOKIE;

/// Who a browser is: its account, if signed in, and its anonymous session (which binds the
/// forms of someone not signed in).
#[derive(Debug, Clone)]
pub struct Visitor {
    pub identity: Option<Identity>,
    pub anonymous: Session,
}

impl Visitor {
    /// The id its forms are bound to.
    pub fn form_session(&self) -> Uuid {
        self.identity
            .as_ref()
            .and_then(|identity| identity.session)
            .unwrap_or(self.anonymous.id)
    }

    /// The signed-in identity, or 401.
    pub fn signed_in(&self) -> Result<&Identity, Rejection> {
        self.identity.as_ref().ok_or_else(not_signed_in)
    }

    /// The signed-in identity if it is an operator's: 401 for nobody, 403 for a member.
    pub fn operator(&self) -> Result<&Identity, Rejection> {
        let identity = self.signed_in()?;
        if identity.is_operator() {
            Ok(identity)
        } else {
            Err(operators_only())
        }
    }

    /// The signed-in identity if it may act for `name` (itself, or anyone as an operator).
    pub fn acting_for(&self, name: &str) -> Result<&Identity, Rejection> {
        let identity = self.signed_in()?;
        if identity.may_act_for(name) {
            Ok(identity)
        } else {
            Err(not_yours())
        }
    }
}

pub fn not_signed_in() -> Rejection {
    Refusal::Unauthorized(
        "you are not signed in (or your session has ended): sign in and try again".into(),
    )
    .reject()
}

pub fn operators_only() -> Rejection {
    Refusal::Forbidden("only an operator may do that".into()).reject()
}

pub fn not_yours() -> Rejection {
    Refusal::Forbidden("you may act only for your own account".into()).reject()
}

fn unreadable(error: &anyhow::Error) -> Rejection {
    tracing::warn!(error = %format!("{error:#}"), "cannot read the accounts");
    Refusal::Unavailable("we cannot check who you are right now; please try again".into()).reject()
}

/// The identity of a session cookie's secret, if it is live.
pub async fn of_cookie(
    state: &State,
    secret: Option<String>,
) -> Result<Option<Identity>, Rejection> {
    match secret.filter(|secret| !secret.is_empty()) {
        None => Ok(None),
        Some(secret) => state
            .accounts
            .from_cookie(&secret)
            .await
            .map_err(|error| unreadable(&error)),
    }
}

/// The identity of an API token, if it is one and unrevoked.
pub async fn of_bearer(state: &State, bearer: &str) -> Result<Option<Identity>, Rejection> {
    state
        .accounts
        .from_bearer(bearer)
        .await
        .map_err(|error| unreadable(&error))
}

/// The visitor of every page and form.
pub fn visitor(state: Arc<State>) -> impl Filter<Extract = (Visitor,), Error = Rejection> + Clone {
    warp::cookie::optional::<String>(ACCOUNT_COOKIE)
        .and(session(SESSION_COOKIE))
        .and(with_state(state))
        .and_then(
            |secret: Option<String>, anonymous: Session, state: Arc<State>| async move {
                let identity = of_cookie(&state, secret).await?;
                Ok::<_, Rejection>(Visitor {
                    identity,
                    anonymous,
                })
            },
        )
}
