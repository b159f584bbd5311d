//! `GET /` (a user's state and the forms that fit it), `GET /users`, `GET /lockers`, and the
//! same as JSON under `/api`, with `GET /api/reconcile`.
//!
//! Every list is one page at a time, by key (`?limit=&after=`, `after` the last key of the
//! page before): at most [`MAX_PAGE`] rows, [`DEFAULT_PAGE`] unless asked, each page linking
//! to the next only when there is one.

use std::collections::HashMap;
use std::sync::Arc;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

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
    /// The next page's address, if there is one.
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "lockers.html")]
struct LockersPage {
    lockers: Vec<warren_store_lockers::Locker>,
    free: usize,
    next: Option<String>,
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

/// The page size unless one is asked for.
pub const DEFAULT_PAGE: usize = 50;
/// The largest page anyone may ask for.
pub const MAX_PAGE: usize = 200;

/// `?limit=&after=`, as sent.
#[derive(Deserialize)]
struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
}

impl PageQuery {
    /// The page size asked for, if it is a whole number from 1 to [`MAX_PAGE`].
    fn limit(&self) -> Result<usize, String> {
        match self.limit.as_deref() {
            None | Some("") => Ok(DEFAULT_PAGE),
            Some(limit) => limit
                .parse::<usize>()
                .ok()
                .filter(|limit| (1..=MAX_PAGE).contains(limit))
                .ok_or_else(|| format!("limit must be a whole number from 1 to {MAX_PAGE}")),
        }
    }

    /// For a page, which may clamp: a size out of bounds becomes the nearest bound.
    fn clamped_limit(&self) -> usize {
        self.limit()
            .unwrap_or_else(|_| match self.limit.as_deref().map(str::parse::<u64>) {
                Some(Ok(0)) | Some(Err(_)) | None => DEFAULT_PAGE,
                Some(Ok(_)) => MAX_PAGE,
            })
    }

    fn after(&self) -> Option<&str> {
        self.after.as_deref().filter(|after| !after.is_empty())
    }
}

/// The address of the page of `path` after the key `after`.
fn next_page(path: &str, limit: usize, after: &str) -> String {
    format!(
        "{path}?limit={limit}&after={}",
        utf8_percent_encode(after, NON_ALPHANUMERIC)
    )
}

/// A JSON page: `body` with `next` (the next page's address, or null) and, when there is a
/// next page, a `Link: <…>; rel="next"` header.
fn json_page(mut body: serde_json::Value, next: Option<String>) -> Response {
    body["next"] = next.clone().into();
    let reply = warp::reply::json(&body).into_response();
    match next {
        Some(next) => warp::reply::with_header(reply, "link", format!("<{next}>; rel=\"next\""))
            .into_response(),
        None => reply,
    }
}

/// A JSON API asked for a page size out of bounds: 400, saying which.
fn bad_limit(message: String) -> Response {
    warp::reply::with_status(
        warp::reply::json(&serde_json::json!({
            "error": { "code": "invalid-limit", "message": message, "field": "limit" }
        })),
        StatusCode::BAD_REQUEST,
    )
    .into_response()
}

async fn users_page(
    state: &State,
    query: &PageQuery,
    limit: usize,
) -> Result<warren_store_users::Page<warren_store_users::User>, Rejection> {
    warren_store_users::users(&state.users, query.after(), limit)
        .await
        .map_err(|error| unavailable("the users", &error))
}

async fn lockers_page(
    state: &State,
    query: &PageQuery,
    limit: usize,
) -> Result<warren_store_lockers::Page<warren_store_lockers::Locker>, Rejection> {
    warren_store_lockers::lockers_page(&state.lockers, query.after(), limit)
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
        .and(warp::query::<PageQuery>())
        .and(with_state(state.clone()))
        .and_then(|query: PageQuery, state: Arc<State>| async move {
            let limit = query.clamped_limit();
            let page = users_page(&state, &query, limit).await?;
            let next = page.next.map(|after| next_page("/users", limit, &after));
            let page = UsersPage {
                users: page.items,
                next,
            };
            Ok::<_, Rejection>(html(&page, StatusCode::OK))
        });
    let lockers = warp::path!("lockers")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(session(SESSION_COOKIE))
        .and(with_state(state.clone()))
        .and_then(
            |query: PageQuery, session: Session, state: Arc<State>| async move {
                let limit = query.clamped_limit();
                let page = lockers_page(&state, &query, limit).await?;
                let free = page
                    .items
                    .iter()
                    .filter(|locker| locker.holder.is_none())
                    .count();
                let page = LockersPage {
                    lockers: page.items,
                    free,
                    next: page.next.map(|after| next_page("/lockers", limit, &after)),
                    csrf: state.csrf.token(session.id),
                    forms: Forms::new(&state, &session),
                };
                Ok::<_, Rejection>(session.attach(fresh(html(&page, StatusCode::OK))))
            },
        );
    let api_users = warp::path!("api" / "users")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(with_state(state.clone()))
        .and_then(|query: PageQuery, state: Arc<State>| async move {
            let limit = match query.limit() {
                Ok(limit) => limit,
                Err(message) => return Ok(bad_limit(message)),
            };
            let page = users_page(&state, &query, limit).await?;
            let next = page
                .next
                .map(|after| next_page("/api/users", limit, &after));
            Ok::<_, Rejection>(json_page(serde_json::json!({ "items": page.items }), next))
        });
    let api_lockers = warp::path!("api" / "lockers")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(with_state(state.clone()))
        .and_then(|query: PageQuery, state: Arc<State>| async move {
            let limit = match query.limit() {
                Ok(limit) => limit,
                Err(message) => return Ok(bad_limit(message)),
            };
            let page = lockers_page(&state, &query, limit).await?;
            let view: Vec<HashMap<&str, Option<&str>>> = page
                .items
                .iter()
                .map(|locker| {
                    HashMap::from([
                        ("code", Some(locker.code.as_str())),
                        ("location", Some(locker.location.as_str())),
                        ("holder", locker.holder.as_deref()),
                    ])
                })
                .collect();
            let next = page
                .next
                .map(|after| next_page("/api/lockers", limit, &after));
            Ok::<_, Rejection>(json_page(serde_json::json!({ "items": view }), next))
        });
    let api_reconcile = warp::path!("api" / "reconcile")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(with_state(state))
        .and_then(|query: PageQuery, state: Arc<State>| async move {
            let limit = match query.limit() {
                Ok(limit) => limit,
                Err(message) => return Ok(bad_limit(message)),
            };
            let report = reconcile::check(&state.users, &state.lockers, query.after(), limit)
                .await
                .map_err(|error| unavailable("the stores", &error))?;
            let next = report
                .through
                .as_deref()
                .map(|through| next_page("/api/reconcile", limit, through));
            let body = serde_json::to_value(&report)
                .map_err(|error| unavailable("the report", &error.into()))?;
            Ok::<_, Rejection>(json_page(body, next))
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
