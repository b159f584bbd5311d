//! `GET /` (someone not signed in: the sign-in and sign-up forms; a member: their own locker and
//! account), `POST /sign-in` and `POST /sign-out`.
//!
//! Sign-up is `POST /register` (actions.rs): it publishes the registration, with the password's
//! hash, to user-service like any request.

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::events::names::UserName;
use warren_service_kit::limits::client_address;
use warren_service_kit::web::{Refusal, form_post, html, verified_session};

use super::identity::{Visitor, visitor};
use super::{Forms, Nav, State, fresh, with_state};
use crate::accounts::{ACCOUNT_COOKIE, SignIn};

/// What a signed-in member's own account is in the users read model.
pub enum UserState {
    Unknown,
    NoLocker,
    Holds(String),
    Deleting,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct Welcome {
    nav: Nav,
    name: String,
    error: Option<String>,
    csrf: String,
    attempt: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    name: String,
    state: UserState,
    forms: Forms,
}

#[derive(Deserialize)]
struct SignInForm {
    name: Option<String>,
    password: Option<String>,
    csrf: Option<String>,
}

#[derive(Deserialize)]
struct SignOutForm {
    csrf: Option<String>,
}

fn welcome(state: &State, visitor: &Visitor, name: String, error: Option<String>) -> Welcome {
    let session = visitor.anonymous.id;
    Welcome {
        nav: Nav::of(state, visitor),
        name,
        error,
        csrf: state.csrf.token(session),
        attempt: state.attempts.issue(session),
    }
}

async fn home(visitor: Visitor, state: Arc<State>) -> Result<Response, Rejection> {
    let Some(identity) = &visitor.identity else {
        let page = welcome(&state, &visitor, String::new(), None);
        return Ok(visitor.anonymous.attach(fresh(html(&page, StatusCode::OK))));
    };
    let user = warren_store_users::find_user(&state.users, &identity.name)
        .await
        .map_err(|error| super::unavailable("your account", &error))?;
    let page = AccountPage {
        nav: Nav::of(&state, &visitor),
        name: identity.name.clone(),
        state: match user {
            None => UserState::Unknown,
            Some(user) if user.deleting => UserState::Deleting,
            Some(user) => user.locker.map_or(UserState::NoLocker, UserState::Holds),
        },
        forms: Forms::new(&state, visitor.form_session()),
    };
    Ok(fresh(html(&page, StatusCode::OK)))
}

async fn sign_in(
    visitor: Visitor,
    previous: Option<String>,
    address: IpAddr,
    form: SignInForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let cookie = visitor.anonymous.id.to_string();
    verified_session(&state.csrf, Some(&cookie), form.csrf.as_deref()).map_err(Refusal::reject)?;
    let typed = form.name.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    // A name that cannot exist fails like a wrong password (and is counted like one).
    let name = UserName::parse(typed.trim()).map_or_else(|_| typed.trim().to_owned(), String::from);
    let outcome = state
        .accounts
        .sign_in(&name, password, address)
        .await
        .map_err(|error| super::unavailable("the accounts", &error))?;
    match outcome {
        SignIn::SignedIn { secret, identity } => {
            // The browser's session from before (if any) ends: one browser, one session.
            if let Some(previous) = previous.filter(|previous| !previous.is_empty()) {
                state
                    .accounts
                    .sign_out(&previous)
                    .await
                    .map_err(|error| super::unavailable("the accounts", &error))?;
            }
            let mut response =
                warp::reply::with_header(StatusCode::SEE_OTHER, "location", "/").into_response();
            response.headers_mut().append(
                "set-cookie",
                state
                    .accounts
                    .cookie(&secret)
                    .parse()
                    .map_err(|_| super::unavailable_plain("the session cookie"))?,
            );
            tracing::debug!(name = %identity.name, "signed in from the form");
            Ok(response)
        }
        SignIn::Refused => {
            let page = welcome(
                &state,
                &visitor,
                name,
                Some("The name or the password is wrong.".into()),
            );
            Ok(fresh(html(&page, StatusCode::UNAUTHORIZED)))
        }
        SignIn::Throttled(wait) => Err(Refusal::TooManyRequests {
            message: format!(
                "too many failed sign-ins: try again in {} seconds",
                wait.as_secs()
            ),
            retry_after_secs: wait.as_secs(),
        }
        .reject()),
    }
}

async fn sign_out(
    visitor: Visitor,
    secret: Option<String>,
    form: SignOutForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let identity = visitor.signed_in()?;
    let session = identity.session.map(|id| id.to_string());
    verified_session(&state.csrf, session.as_deref(), form.csrf.as_deref())
        .map_err(Refusal::reject)?;
    if let Some(secret) = secret {
        state
            .accounts
            .sign_out(&secret)
            .await
            .map_err(|error| super::unavailable("the accounts", &error))?;
    }
    let mut response =
        warp::reply::with_header(StatusCode::SEE_OTHER, "location", "/").into_response();
    response.headers_mut().append(
        "set-cookie",
        state
            .accounts
            .clear_cookie()
            .parse()
            .map_err(|_| super::unavailable_plain("the session cookie"))?,
    );
    Ok(response)
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    let home = warp::path::end()
        .and(warp::get())
        .and(visitor(state.clone()))
        .and(with_state(state.clone()))
        .and_then(home);
    let sign_in = warp::path!("sign-in")
        .and(form_post(limit))
        .and(visitor(state.clone()))
        .and(warp::cookie::optional::<String>(ACCOUNT_COOKIE))
        .and(client_address(state.trusted_proxies.clone()))
        .and(warp::body::form::<SignInForm>())
        .and(with_state(state.clone()))
        .and_then(sign_in);
    let sign_out = warp::path!("sign-out")
        .and(form_post(limit))
        .and(visitor(state.clone()))
        .and(warp::cookie::optional::<String>(ACCOUNT_COOKIE))
        .and(warp::body::form::<SignOutForm>())
        .and(with_state(state))
        .and_then(sign_out);
    home.or(sign_in).unify().or(sign_out).unify().boxed()
}
