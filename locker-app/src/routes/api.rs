//! The JSON API for programs (and tools like Postman), under `/api`:
//!
//! - `POST /api/lockers` `{"code", "location"}` (operator): add a locker;
//! - `GET /api/lockers?limit=&after=` and `GET /api/lockers/{code}` (operator);
//! - `POST /api/users` `{"name", "password"}` (operator): register a user;
//! - `GET /api/users?limit=&after=` (operator);
//! - `POST /api/users/{name}/locker-requests` `{}` (that user, or an operator): ask for a locker;
//! - `GET /api/reconcile?limit=&after=` (operator): whether the two stores agree, a range at a
//!   time;
//! - `GET /api/requests/{id}?sig=` (requests.rs): a request's status, at the link a POST gave.
//!
//! A program authenticates with `Authorization: Bearer <token>` (an API token an operator made
//! on `/tokens`; it acts with its creator's role); a signed-in browser's session cookie works
//! too. A POST answers 202 with the request's status URL (`Location`) once the broker has
//! confirmed the event, and publishes nothing when any check fails. `Idempotency-Key: <uuid>`
//! makes a POST safe to send again: the same key from the same account is the same request.
//! Errors have one shape, `{"error": {"code", "message", "field"}}` (`service_kit::api`).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::events::lockers::LockerAddRequested;
use warren_messages::events::names::{Location, LockerCode, UserName};
use warren_messages::events::users::{LockerWanted, RegistrationRequested};
use warren_messages::{Envelope, Event, PublishError};
use warren_service_kit::api::{self, bearer, json_body};
use warren_service_kit::passwords;
use warren_service_kit::web::Refusal;
use warren_store_accounts::Identity;

use super::identity::{self, not_signed_in, not_yours, operators_only};
use super::pages::{PageQuery, bad_limit, json_page, lockers_page, next_page, users_page};
use super::{State, unavailable, with_state};
use crate::accounts::{ACCOUNT_COOKIE, Keyed};
use crate::reconcile;
use crate::startup::SERVICE;

/// Who calls the API: the bearer token's identity, else the session cookie's.
fn caller(
    state: Arc<State>,
) -> impl Filter<Extract = (Option<Identity>,), Error = Rejection> + Clone {
    bearer()
        .and(warp::cookie::optional::<String>(ACCOUNT_COOKIE))
        .and(with_state(state))
        .and_then(
            |token: Option<String>, cookie: Option<String>, state: Arc<State>| async move {
                match token {
                    // A token that is not (or no longer) valid is refused, cookie or not.
                    Some(token) => match identity::of_bearer(&state, &token).await? {
                        Some(identity) => Ok(Some(identity)),
                        None => Err(Refusal::Unauthorized(
                            "the API token is not valid (unknown, revoked, or its account is \
                             gone)"
                                .into(),
                        )
                        .reject()),
                    },
                    None => identity::of_cookie(&state, cookie).await,
                }
            },
        )
}

fn signed_in(caller: Option<Identity>) -> Result<Identity, Rejection> {
    caller.ok_or_else(not_signed_in)
}

fn operator(caller: Option<Identity>) -> Result<Identity, Rejection> {
    let identity = signed_in(caller)?;
    if identity.is_operator() {
        Ok(identity)
    } else {
        Err(operators_only())
    }
}

/// A field that breaks its rule: 422, naming it.
fn invalid(field: &'static str, message: String) -> Rejection {
    Refusal::Invalid { field, message }.reject()
}

/// The request id of a POST: a new one, or with `Idempotency-Key` the request this account
/// first sent with that key (the same `call`: route and fields) — 409 if the key came with
/// another call. No account can reach another's requests with a key.
async fn request_id(
    state: &State,
    identity: &Identity,
    key: Option<String>,
    call: &str,
) -> Result<Uuid, Rejection> {
    let fresh = Uuid::now_v7();
    let Some(key) = key else {
        return Ok(fresh);
    };
    let key = Uuid::parse_str(key.trim())
        .map_err(|_| Refusal::BadRequest("Idempotency-Key must be a UUID".into()).reject())?;
    let keyed = state
        .accounts
        .keyed_request(&identity.name, key, call, fresh)
        .await
        .map_err(|error| unavailable("the idempotency keys", &error))?;
    match keyed {
        Keyed::Request(request_id) => Ok(request_id),
        Keyed::Conflict(request_id) => Err(Refusal::Conflict(format!(
            "Idempotency-Key {key} was used for another request ({request_id}); use a new key \
             for a new request"
        ))
        .reject()),
    }
}

/// Publishes `payload` as the request `request_id` and answers 202 with its status URL once the
/// broker confirmed it.
async fn accept<E: Event>(
    state: &State,
    request_id: Uuid,
    payload: E,
) -> Result<Response, Rejection> {
    let mut envelope = Envelope::new(SERVICE, payload);
    envelope.message_id = request_id;
    envelope.correlation_id = request_id;
    match state.publisher.publish(&envelope).await {
        Ok(()) => {
            let status = format!("/api{}", super::requests::link(state, request_id));
            let body = json!({ "request_id": request_id, "status": status });
            let reply = warp::reply::with_status(warp::reply::json(&body), StatusCode::ACCEPTED);
            Ok(warp::reply::with_header(reply, "location", status).into_response())
        }
        Err(error) if error.outcome_unknown() => {
            tracing::warn!(%error, %request_id, "API request not confirmed by the broker: outcome unknown");
            Err(Refusal::Unavailable(format!(
                "we could not confirm that request {request_id} was taken ({error}): it may or \
                 may not be handled; send it again with the same Idempotency-Key to be sure"
            ))
            .reject())
        }
        Err(PublishError::Nacked) => Err(Refusal::Busy(
            "the locker service is busy right now: nothing was sent; try again in a few seconds"
                .into(),
        )
        .reject()),
        Err(error) => {
            tracing::warn!(%error, %request_id, "API request not taken by the broker");
            Err(Refusal::Unavailable(format!("nothing was sent: {error}; try again")).reject())
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLocker {
    code: String,
    location: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockerRequest {}

async fn add_locker(
    caller: Option<Identity>,
    key: Option<String>,
    body: NewLocker,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let identity = operator(caller)?;
    let code =
        LockerCode::parse(body.code.trim().to_uppercase()).map_err(|e| invalid("code", e))?;
    let location = Location::parse(body.location.trim()).map_err(|e| invalid("location", e))?;
    let (code, location) = (String::from(code), String::from(location));
    let call = format!("POST /api/lockers\n{code}\n{location}");
    let request_id = request_id(&state, &identity, key, &call).await?;
    let event = LockerAddRequested {
        request_id,
        code,
        location,
        actor: Some(identity.name),
    };
    accept(&state, request_id, event).await
}

async fn add_user(
    caller: Option<Identity>,
    key: Option<String>,
    body: NewUser,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let identity = operator(caller)?;
    let name = UserName::parse(body.name.trim()).map_err(|e| invalid("name", e))?;
    passwords::check(&body.password).map_err(|e| invalid("password", e.to_string()))?;
    let name = String::from(name);
    // The password is left out: a retry may not send it again, and it is never stored.
    let call = format!("POST /api/users\n{name}");
    let request_id = request_id(&state, &identity, key, &call).await?;
    let password_hash = passwords::hash_async(body.password)
        .await
        .map_err(|e| invalid("password", e.to_string()))?;
    let event = RegistrationRequested {
        request_id,
        name,
        password_hash,
    };
    accept(&state, request_id, event).await
}

async fn request_locker(
    name: String,
    caller: Option<Identity>,
    key: Option<String>,
    _body: LockerRequest,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let identity = signed_in(caller)?;
    let name = UserName::parse(name.trim()).map_err(|e| invalid("name", e))?;
    let name = String::from(name);
    if !identity.may_act_for(&name) {
        return Err(not_yours());
    }
    let call = format!("POST /api/users/{name}/locker-requests");
    let request_id = request_id(&state, &identity, key, &call).await?;
    let event = LockerWanted {
        request_id,
        name,
        actor: Some(identity.name),
    };
    accept(&state, request_id, event).await
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    let key = || warp::header::optional::<String>("idempotency-key");
    let post_lockers = warp::path!("lockers")
        .and(caller(state.clone()))
        .and(key())
        .and(json_body::<NewLocker>(limit))
        .and(with_state(state.clone()))
        .and_then(add_locker);
    let post_users = warp::path!("users")
        .and(caller(state.clone()))
        .and(key())
        .and(json_body::<NewUser>(limit))
        .and(with_state(state.clone()))
        .and_then(add_user);
    let post_locker_request = warp::path!("users" / String / "locker-requests")
        .and(caller(state.clone()))
        .and(key())
        .and(json_body::<LockerRequest>(limit))
        .and(with_state(state.clone()))
        .and_then(request_locker);
    let get_users = warp::path!("users")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |query: PageQuery, caller: Option<Identity>, state: Arc<State>| async move {
                operator(caller)?;
                let limit = match query.limit() {
                    Ok(limit) => limit,
                    Err(message) => return Ok(bad_limit(message)),
                };
                let page = users_page(&state, &query, limit).await?;
                let next = page
                    .next
                    .map(|after| next_page("/api/users", limit, &after));
                Ok::<_, Rejection>(json_page(json!({ "items": page.items }), next))
            },
        );
    let get_lockers = warp::path!("lockers")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |query: PageQuery, caller: Option<Identity>, state: Arc<State>| async move {
                operator(caller)?;
                let limit = match query.limit() {
                    Ok(limit) => limit,
                    Err(message) => return Ok(bad_limit(message)),
                };
                let page = lockers_page(&state, &query, limit).await?;
                let items: Vec<_> = page.items.iter().map(locker_json).collect();
                let next = page
                    .next
                    .map(|after| next_page("/api/lockers", limit, &after));
                Ok::<_, Rejection>(json_page(json!({ "items": items }), next))
            },
        );
    let get_locker = warp::path!("lockers" / String)
        .and(warp::get())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |code: String, caller: Option<Identity>, state: Arc<State>| async move {
                operator(caller)?;
                let not_found = || Refusal::NotFound("there is no such locker".into()).reject();
                let code =
                    LockerCode::parse(code.trim().to_uppercase()).map_err(|_| not_found())?;
                let code = String::from(code);
                let locker = warren_store_lockers::lockers_coded(&state.lockers, &[code.as_str()])
                    .await
                    .map_err(|error| unavailable("the lockers", &error))?
                    .into_iter()
                    .next()
                    .ok_or_else(not_found)?;
                Ok::<_, Rejection>(warp::reply::json(&locker_json(&locker)).into_response())
            },
        );
    let reconcile = warp::path!("reconcile")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(caller(state.clone()))
        .and(with_state(state))
        .and_then(
            |query: PageQuery, caller: Option<Identity>, state: Arc<State>| async move {
                operator(caller)?;
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
            },
        );
    // Only paths under /api get the JSON error shape; any other path is not the API's to refuse.
    let api = post_lockers
        .or(post_users)
        .unify()
        .or(post_locker_request)
        .unify()
        .or(get_users)
        .unify()
        .or(get_lockers)
        .unify()
        .or(get_locker)
        .unify()
        .or(reconcile)
        .unify()
        .recover(api::recover)
        .unify();
    warp::path("api").and(api).boxed()
}

fn locker_json(locker: &warren_store_lockers::Locker) -> serde_json::Value {
    json!({
        "code": locker.code,
        "location": locker.location,
        "holder": locker.holder,
        "retired": locker.retired(),
    })
}
