//! `GET /tokens`, `POST /tokens` and `POST /tokens/{id}/revoke`: operators make and revoke the
//! API tokens that programs use. A new token is shown once, on the answer to the POST that made
//! it (never cached), and stored only as its hash.

use std::sync::Arc;

use askama::Template;
use serde::Deserialize;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_service_kit::web::{Refusal, form_post, html, verified_session};
use warren_store_accounts::ApiToken;

use super::identity::{Visitor, visitor};
use super::{Nav, State, fresh, with_state};

/// Tokens per page.
const PAGE: usize = 50;
/// The longest label.
const MAX_LABEL_CHARS: usize = 64;

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: Nav,
    created: Option<String>,
    tokens: Vec<ApiToken>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    before: Option<Uuid>,
}

#[derive(Deserialize)]
struct CreateForm {
    label: Option<String>,
    csrf: Option<String>,
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: Option<String>,
}

async fn page(
    state: &State,
    visitor: &Visitor,
    before: Option<Uuid>,
    created: Option<String>,
) -> Result<Response, Rejection> {
    let (tokens, more) = warren_store_accounts::api_tokens(state.accounts.pool(), before, PAGE)
        .await
        .map_err(|error| super::unavailable("the API tokens", &error))?;
    let next = more
        .then(|| {
            tokens
                .last()
                .map(|token| format!("/tokens?before={}", token.id))
        })
        .flatten();
    let page = TokensPage {
        nav: Nav::of(state, visitor),
        created,
        tokens,
        next,
    };
    Ok(fresh(html(&page, StatusCode::OK)))
}

/// The operator who sent a form, checked against the form's CSRF token.
fn operator_form<'a>(
    state: &State,
    visitor: &'a Visitor,
    csrf: Option<&str>,
) -> Result<&'a warren_store_accounts::Identity, Rejection> {
    let operator = visitor.operator()?;
    let session = operator.session.map(|id| id.to_string());
    verified_session(&state.csrf, session.as_deref(), csrf).map_err(Refusal::reject)?;
    Ok(operator)
}

async fn create(
    visitor: Visitor,
    form: CreateForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let operator = operator_form(&state, &visitor, form.csrf.as_deref())?;
    let label = form.label.unwrap_or_default().trim().to_owned();
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        return Err(Refusal::BadRequest(format!(
            "a token's label is 1 to {MAX_LABEL_CHARS} characters, without control characters"
        ))
        .reject());
    }
    let (token, _) = state
        .accounts
        .create_token(&operator.name, &label)
        .await
        .map_err(|error| super::unavailable("the API tokens", &error))?;
    page(&state, &visitor, None, Some(token)).await
}

async fn revoke(
    id: Uuid,
    visitor: Visitor,
    form: RevokeForm,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let operator = operator_form(&state, &visitor, form.csrf.as_deref())?;
    let revoked = state
        .accounts
        .revoke_token(id, &operator.name)
        .await
        .map_err(|error| super::unavailable("the API tokens", &error))?;
    if !revoked {
        return Err(Refusal::NotFound("there is no such active token".into()).reject());
    }
    Ok(warp::reply::with_header(StatusCode::SEE_OTHER, "location", "/tokens").into_response())
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    let list = warp::path!("tokens")
        .and(warp::get())
        .and(warp::query::<ListQuery>())
        .and(visitor(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |query: ListQuery, visitor: Visitor, state: Arc<State>| async move {
                visitor.operator()?;
                page(&state, &visitor, query.before, None).await
            },
        );
    let create = warp::path!("tokens")
        .and(form_post(limit))
        .and(visitor(state.clone()))
        .and(warp::body::form::<CreateForm>())
        .and(with_state(state.clone()))
        .and_then(create);
    let revoke = warp::path!("tokens" / Uuid / "revoke")
        .and(form_post(limit))
        .and(visitor(state.clone()))
        .and(warp::body::form::<RevokeForm>())
        .and(with_state(state))
        .and_then(revoke);
    list.or(create).unify().or(revoke).unify().boxed()
}
