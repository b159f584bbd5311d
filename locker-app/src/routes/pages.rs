//! `GET /` (a user's state and the forms that fit it), `GET /users`, `GET /lockers`, and the
//! same as JSON under `/api`, with `GET /api/reconcile`.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use serde::Deserialize;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::events::names::UserName;
use warren_service_kit::web::{Attempts, Refusal, Session, html, page, session};

use super::{SESSION_COOKIE, State, with_state};
use crate::reconcile;

pub enum UserState {
    NotAsked,
    Unknown,
    NoLocker,
    Holds(String),
    Deleting,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    name: String,
    error: Option<String>,
    state: UserState,
    csrf: String,
    forms: Forms,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    users: Vec<warren_store_users::User>,
}

#[derive(Template)]
#[template(path = "lockers.html")]
struct LockersPage {
    lockers: Vec<warren_store_lockers::Locker>,
    free: usize,
    csrf: String,
    forms: Forms,
}

/// Gives each form on a page an attempt id of its own (the request id it sends), so that
/// sending one form twice is one request and two forms are two.
pub struct Forms {
    attempts: Attempts,
    session: Uuid,
}

impl Forms {
    fn new(state: &State, session: &Session) -> Self {
        Self {
            attempts: state.attempts.clone(),
            session: session.id,
        }
    }

    /// A fresh attempt id for one form.
    pub fn attempt(&self) -> String {
        self.attempts.issue(self.session)
    }
}

#[derive(Deserialize)]
struct Lookup {
    name: Option<String>,
}

fn unavailable(what: &str, error: &anyhow::Error) -> Rejection {
    tracing::warn!(error = %format!("{error:#}"), "cannot read {what}");
    Refusal::Unavailable(format!("{what} cannot be read right now; please try again")).reject()
}

async fn all_users(state: &State) -> Result<Vec<warren_store_users::User>, Rejection> {
    warren_store_users::users(&state.users)
        .await
        .map_err(|error| unavailable("the users", &error))
}

async fn all_lockers(state: &State) -> Result<Vec<warren_store_lockers::Locker>, Rejection> {
    warren_store_lockers::all_lockers(&state.lockers)
        .await
        .map_err(|error| unavailable("the lockers", &error))
}

async fn home(lookup: Lookup, session: Session, state: Arc<State>) -> Result<Response, Rejection> {
    let name = lookup.name.unwrap_or_default().trim().to_owned();
    let mut page = Home {
        name,
        error: None,
        state: UserState::NotAsked,
        csrf: state.csrf.token(session.id),
        forms: Forms::new(&state, &session),
    };
    let mut status = StatusCode::OK;
    if !page.name.is_empty() {
        match UserName::parse(page.name.as_str()) {
            Err(error) => {
                page.error = Some(error);
                status = StatusCode::BAD_REQUEST;
            }
            Ok(_) => {
                let user = warren_store_users::find_user(&state.users, &page.name)
                    .await
                    .map_err(|error| unavailable("the users", &error))?;
                page.state = match user {
                    None => UserState::Unknown,
                    Some(user) if user.deleting => UserState::Deleting,
                    Some(user) => user.locker.map_or(UserState::NoLocker, UserState::Holds),
                };
            }
        }
    }
    Ok(session.attach(fresh(html(&page, status))))
}

/// A page with forms is not kept by the browser, so that going back to it gives new attempt
/// ids rather than sending a used one with other values.
fn fresh(page: Response) -> Response {
    warp::reply::with_header(page, "cache-control", "no-store").into_response()
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let home = warp::path::end()
        .and(page::<Lookup>(SESSION_COOKIE))
        .and(with_state(state.clone()))
        .and_then(home);
    let users = warp::path!("users")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(|state: Arc<State>| async move {
            let users = all_users(&state).await?;
            Ok::<_, Rejection>(html(&UsersPage { users }, StatusCode::OK))
        });
    let lockers = warp::path!("lockers")
        .and(warp::get())
        .and(session(SESSION_COOKIE))
        .and(with_state(state.clone()))
        .and_then(|session: Session, state: Arc<State>| async move {
            let lockers = all_lockers(&state).await?;
            let free = lockers
                .iter()
                .filter(|locker| locker.holder.is_none())
                .count();
            let page = LockersPage {
                lockers,
                free,
                csrf: state.csrf.token(session.id),
                forms: Forms::new(&state, &session),
            };
            Ok::<_, Rejection>(session.attach(fresh(html(&page, StatusCode::OK))))
        });
    let api_users = warp::path!("api" / "users")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(|state: Arc<State>| async move {
            let users = all_users(&state).await?;
            Ok::<_, Rejection>(warp::reply::json(&users).into_response())
        });
    let api_lockers = warp::path!("api" / "lockers")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(|state: Arc<State>| async move {
            let lockers = all_lockers(&state).await?;
            let view: Vec<HashMap<&str, Option<&str>>> = lockers
                .iter()
                .map(|locker| {
                    HashMap::from([
                        ("code", Some(locker.code.as_str())),
                        ("location", Some(locker.location.as_str())),
                        ("holder", locker.holder.as_deref()),
                    ])
                })
                .collect();
            Ok::<_, Rejection>(warp::reply::json(&view).into_response())
        });
    let api_reconcile = warp::path!("api" / "reconcile")
        .and(warp::get())
        .and(with_state(state))
        .and_then(|state: Arc<State>| async move {
            let report = reconcile::check(&state.users, &state.lockers)
                .await
                .map_err(|error| unavailable("the stores", &error))?;
            Ok::<_, Rejection>(warp::reply::json(&report).into_response())
        });
    home.or(users)
        .unify()
        .or(lockers)
        .unify()
        .or(api_users)
        .unify()
        .or(api_lockers)
        .unify()
        .or(api_reconcile)
        .unify()
        .boxed()
}
