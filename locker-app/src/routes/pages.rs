//! `GET /users` and `GET /lockers`, the operators' lists, each with the forms an operator acts
//! with (release, delete or promote a user; add or retire a locker).
//!
//! Every list is one page at a time, by key (`?limit=&after=`, `after` the last key of the
//! page before): at most [`MAX_PAGE`] rows, [`DEFAULT_PAGE`] unless asked, each page linking
//! to the next only when there is one.

use std::sync::Arc;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use askama::Template;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_service_kit::web::html;

use super::identity::{Visitor, visitor};
use super::{Forms, Nav, State, fresh, unavailable, with_state};

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<warren_store_users::User>,
    /// The next page's address, if there is one.
    next: Option<String>,
    forms: Forms,
}

#[derive(Template)]
#[template(path = "lockers.html")]
struct LockersPage {
    nav: Nav,
    lockers: Vec<warren_store_lockers::Locker>,
    free: usize,
    next: Option<String>,
    forms: Forms,
}

/// The page size unless one is asked for.
pub const DEFAULT_PAGE: usize = 50;
/// The largest page anyone may ask for.
pub const MAX_PAGE: usize = 200;

/// `?limit=&after=`, as sent.
#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
}

impl PageQuery {
    /// The page size asked for, if it is a whole number from 1 to [`MAX_PAGE`].
    pub fn limit(&self) -> Result<usize, String> {
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

    pub fn after(&self) -> Option<&str> {
        self.after.as_deref().filter(|after| !after.is_empty())
    }
}

/// The address of the page of `path` after the key `after`.
pub fn next_page(path: &str, limit: usize, after: &str) -> String {
    format!(
        "{path}?limit={limit}&after={}",
        utf8_percent_encode(after, NON_ALPHANUMERIC)
    )
}

/// A JSON page: `body` with `next` (the next page's address, or null) and, when there is a
/// next page, a `Link: <…>; rel="next"` header.
pub fn json_page(mut body: serde_json::Value, next: Option<String>) -> Response {
    body["next"] = next.clone().into();
    let reply = warp::reply::json(&body).into_response();
    match next {
        Some(next) => warp::reply::with_header(reply, "link", format!("<{next}>; rel=\"next\""))
            .into_response(),
        None => reply,
    }
}

/// A JSON API asked for a page size out of bounds: 400, saying which.
pub fn bad_limit(message: String) -> Response {
    warp::reply::with_status(
        warp::reply::json(&serde_json::json!({
            "error": { "code": "invalid-limit", "message": message, "field": "limit" }
        })),
        StatusCode::BAD_REQUEST,
    )
    .into_response()
}

pub async fn users_page(
    state: &State,
    query: &PageQuery,
    limit: usize,
) -> Result<warren_store_users::Page<warren_store_users::User>, Rejection> {
    warren_store_users::users(&state.users, query.after(), limit)
        .await
        .map_err(|error| unavailable("the users", &error))
}

pub async fn lockers_page(
    state: &State,
    query: &PageQuery,
    limit: usize,
) -> Result<warren_store_lockers::Page<warren_store_lockers::Locker>, Rejection> {
    warren_store_lockers::lockers_page(&state.lockers, query.after(), limit)
        .await
        .map_err(|error| unavailable("the lockers", &error))
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let users = warp::path!("users")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(visitor(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |query: PageQuery, visitor: Visitor, state: Arc<State>| async move {
                visitor.operator()?;
                let limit = query.clamped_limit();
                let page = users_page(&state, &query, limit).await?;
                let next = page.next.map(|after| next_page("/users", limit, &after));
                let page = UsersPage {
                    nav: Nav::of(&state, &visitor),
                    users: page.items,
                    next,
                    forms: Forms::new(&state, visitor.form_session()),
                };
                Ok::<_, Rejection>(fresh(html(&page, StatusCode::OK)))
            },
        );
    let lockers = warp::path!("lockers")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(visitor(state.clone()))
        .and(with_state(state))
        .and_then(
            |query: PageQuery, visitor: Visitor, state: Arc<State>| async move {
                visitor.operator()?;
                let limit = query.clamped_limit();
                let page = lockers_page(&state, &query, limit).await?;
                let free = page
                    .items
                    .iter()
                    .filter(|locker| locker.holder.is_none() && !locker.retired())
                    .count();
                let page = LockersPage {
                    nav: Nav::of(&state, &visitor),
                    lockers: page.items,
                    free,
                    next: page.next.map(|after| next_page("/lockers", limit, &after)),
                    forms: Forms::new(&state, visitor.form_session()),
                };
                Ok::<_, Rejection>(fresh(html(&page, StatusCode::OK)))
            },
        );
    users.or(lockers).unify().boxed()
}
