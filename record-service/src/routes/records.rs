//! Recording and deleting: `POST /records` (the Record button: publishes exactly the
//! observation the page showed, signed by this service), `GET /records` (newest first),
//! `POST /records/{id}/delete`; and `GET`/`POST /api/records`, `DELETE /api/records/{id}`.
//! Each publish waits for the broker's confirm; the page then waits, for a bounded time, until
//! the read model shows the change, and says so if it does not yet.
//!
//! Both lists come a page at a time (`?limit=&after=`, `after` the last record of the page
//! before), each page linking to the next only when there is one.

use std::sync::Arc;

use askama::Template;
use serde::Deserialize;
use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::events::records::{RecordDeleted, WeatherRecorded};
use warren_messages::{Envelope, Event, PublishError};
use warren_service_kit::api;
use warren_service_kit::web::{Refusal, Session, form_post, html, page, verified_session};

use super::{
    SESSION_COOKIE, Sealed, State, json_refusal, json_reply, see_other, settled, unseal, with_state,
};
use crate::operators::{self, Credentials, Denied, Identity};
use crate::startup::SERVICE;
use crate::storage::{self, Record};
use warren_store_records::After;

#[derive(Debug, Deserialize)]
struct RecordForm {
    csrf: Option<String>,
    observation: Option<String>,
    sig: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Notice {
    recorded: Option<Uuid>,
    deleted: Option<Uuid>,
    limit: Option<String>,
    after: Option<String>,
}

/// `?limit=&after=` of the JSON list.
#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
}

/// The page size unless one is asked for.
pub const DEFAULT_PAGE: usize = 50;
/// The largest page anyone may ask for.
pub const MAX_PAGE: usize = 200;

/// The page size asked for, if it is a whole number from 1 to [`MAX_PAGE`].
fn page_limit(limit: Option<&str>) -> Result<usize, String> {
    match limit {
        None | Some("") => Ok(DEFAULT_PAGE),
        Some(limit) => limit
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| format!("limit must be a whole number from 1 to {MAX_PAGE}")),
    }
}

/// For the page, which may clamp: a size out of bounds becomes the nearest bound.
fn clamped_limit(limit: Option<&str>) -> usize {
    page_limit(limit).unwrap_or_else(|_| match limit.map(str::parse::<u64>) {
        Some(Ok(0)) | Some(Err(_)) | None => DEFAULT_PAGE,
        Some(Ok(_)) => MAX_PAGE,
    })
}

fn page_after(after: Option<&str>) -> Result<Option<After>, String> {
    after
        .filter(|after| !after.is_empty())
        .map(After::parse)
        .transpose()
}

/// The address of the page of `path` after `after` (whose text needs no escaping in a query).
fn next_page(path: &str, limit: usize, after: After) -> String {
    format!("{path}?limit={limit}&after={after}")
}

/// A JSON page: the records and `next` (the next page's address, or null), with a
/// `Link: <…>; rel="next"` header when there is a next page.
fn json_page(records: &[Record], next: Option<String>) -> Response {
    let body = serde_json::json!({ "items": records, "next": next });
    let reply = warp::reply::json(&body).into_response();
    match next {
        Some(next) => warp::reply::with_header(reply, "link", format!("<{next}>; rel=\"next\""))
            .into_response(),
        None => reply,
    }
}

#[derive(Template)]
#[template(path = "records.html")]
struct RecordsPage {
    records: Vec<Record>,
    notice: Option<String>,
    /// The page refreshes itself until the change it reports shows.
    waiting: bool,
    /// The next page's address, if there is one.
    next: Option<String>,
    csrf: String,
    /// Who is looking, as far as deleting goes.
    viewer: Viewer,
    sign_in_url: String,
}

/// Who is looking at the records page: an operator sees Delete buttons, everyone else who may
/// delete.
enum Viewer {
    Operator(String),
    Member(String),
    Nobody,
    /// The accounts cannot be read now: no Delete buttons, and the page says why.
    Unknown,
}

/// The page a browser gets when its Delete is refused for who it is (401 or 403).
#[derive(Template)]
#[template(path = "operators.html")]
struct OperatorsOnly<'a> {
    message: String,
    sign_in_url: &'a str,
}

async fn publish<E: Event>(state: &State, payload: E) -> Result<(), Refusal> {
    let envelope = Envelope::new(SERVICE, payload);
    state.publisher.publish(&envelope).await.map_err(|error| {
        tracing::warn!(%error, message_id = %envelope.message_id, "not confirmed by the broker");
        // Record and Delete are idempotent by record id, so sending either again is safe.
        if let PublishError::Nacked = error {
            // A queue at its bound: the projection is behind, not down.
            return Refusal::Busy(
                "the recorder is busy right now, so nothing was changed; please try again in a \
                 few seconds"
                    .into(),
            );
        }
        Refusal::Unavailable(if error.outcome_unknown() {
            format!(
                "we could not confirm the change ({error}); it may have been made. Sending it \
                 again is safe: it takes effect once"
            )
        } else {
            format!(
                "nothing was changed: the broker did not take the message ({error}); please try \
                 again"
            )
        })
    })
}

async fn record(state: &State, sealed: &Sealed) -> Result<(Uuid, bool), Refusal> {
    let (record_id, observation) = unseal(
        state,
        Some(sealed.observation.as_str()),
        Some(sealed.sig.as_str()),
    )?;
    publish(
        state,
        WeatherRecorded {
            record_id,
            observation,
        },
    )
    .await?;
    Ok((record_id, settled(state, record_id, true).await))
}

async fn delete(state: &State, record_id: Uuid, operator: &Identity) -> Result<bool, Refusal> {
    publish(
        state,
        RecordDeleted {
            record_id,
            actor: Some(operator.name.clone()),
        },
    )
    .await?;
    Ok(settled(state, record_id, false).await)
}

fn unreadable(error: &anyhow::Error) -> Refusal {
    tracing::warn!(error = %format!("{error:#}"), "cannot read the records");
    Refusal::Unavailable("the records cannot be read right now; please try again".into())
}

fn denied_status(denied: &Denied) -> StatusCode {
    match denied {
        Denied::NotSignedIn => StatusCode::UNAUTHORIZED,
        Denied::NotOperator(_) => StatusCode::FORBIDDEN,
        Denied::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A refused Delete as the page's answer: a page saying to sign in as an operator, or the error
/// page when the accounts cannot be read.
fn denied_page(state: &State, denied: Denied) -> Result<Response, Rejection> {
    if denied == Denied::Unavailable {
        return Err(Refusal::Unavailable(denied.to_string()).reject());
    }
    let page = OperatorsOnly {
        message: denied.to_string(),
        sign_in_url: &state.sign_in_url,
    };
    Ok(html(&page, denied_status(&denied)))
}

/// A refused or failed API call in the API's one error shape.
fn api_refusal(refusal: &Refusal) -> Response {
    refusal.with_headers(api::error(refusal.status(), &refusal.to_string(), None))
}

/// Who is looking at the page, by locker-app's session cookie.
async fn viewer(state: &State, account: Option<&str>) -> Viewer {
    let credentials = Credentials {
        session: account,
        bearer: None,
    };
    match state.operators.identify(credentials).await {
        Ok(Some(identity)) if identity.is_operator() => Viewer::Operator(identity.name),
        Ok(Some(identity)) => Viewer::Member(identity.name),
        Ok(None) => Viewer::Nobody,
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "cannot check who is looking");
            Viewer::Unknown
        }
    }
}

async fn list_page(
    notice: Notice,
    session: Session,
    account: Option<String>,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let limit = clamped_limit(notice.limit.as_deref());
    let after = page_after(notice.after.as_deref())
        .map_err(|message| Refusal::BadRequest(message).reject())?;
    let page = warren_store_records::list(&state.pool, after, limit)
        .await
        .map_err(|error| unreadable(&error).reject())?;
    let next = page.next.map(|after| next_page("/records", limit, after));
    let records = page.records;
    let shown = |id: Uuid| records.iter().any(|record| record.record_id == id);
    // A record deleted since it was recorded has nothing left to wait for.
    let gone = match notice.recorded {
        Some(id) if !shown(id) => storage::was_deleted(&state.pool, id)
            .await
            .map_err(|error| unreadable(&error).reject())?,
        _ => false,
    };
    let (notice, waiting) = match (notice.recorded, notice.deleted) {
        (Some(_), _) if gone => (None, false),
        (Some(id), _) if shown(id) => (Some("Recorded.".to_owned()), false),
        (Some(_), _) => (
            Some(
                "Your record was accepted and is being saved; it will show here in a moment."
                    .to_owned(),
            ),
            true,
        ),
        (None, Some(id)) if shown(id) => (
            Some("The record is being deleted; it will go from this list in a moment.".to_owned()),
            true,
        ),
        (None, Some(_)) => (Some("Deleted.".to_owned()), false),
        (None, None) => (None, false),
    };
    let page = RecordsPage {
        records,
        notice,
        waiting,
        next,
        csrf: state.csrf.token(session.id),
        viewer: viewer(&state, account.as_deref()).await,
        sign_in_url: state.sign_in_url.clone(),
    };
    Ok(session.attach(html(&page, StatusCode::OK)))
}

fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let limit = state.max_body_bytes;
    let record_form = warp::path!("records")
        .and(form_post(limit))
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(warp::body::form::<RecordForm>())
        .and(with_state(state.clone()))
        .and_then(
            |cookie: Option<String>, form: RecordForm, state: Arc<State>| async move {
                verified_session(&state.csrf, cookie.as_deref(), form.csrf.as_deref())
                    .map_err(Refusal::reject)?;
                let sealed = Sealed {
                    observation: form.observation.unwrap_or_default(),
                    sig: form.sig.unwrap_or_default(),
                };
                let (record_id, _) = record(&state, &sealed).await.map_err(Refusal::reject)?;
                Ok::<_, Rejection>(see_other(&format!("/records?recorded={record_id}")))
            },
        );
    // Who is asking is known before anything else is looked at, and only an operator's
    // deletion is published.
    let delete_form = warp::path!("records" / Uuid / "delete")
        .and(form_post(limit))
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(warp::cookie::optional::<String>(operators::SESSION_COOKIE))
        .and(warp::body::form::<DeleteForm>())
        .and(with_state(state.clone()))
        .and_then(
            |record_id: Uuid,
             cookie: Option<String>,
             account: Option<String>,
             form: DeleteForm,
             state: Arc<State>| async move {
                let credentials = Credentials {
                    session: account.as_deref(),
                    bearer: None,
                };
                let operator = match state.operators.operator(credentials).await {
                    Ok(operator) => operator,
                    Err(denied) => return denied_page(&state, denied),
                };
                verified_session(&state.csrf, cookie.as_deref(), form.csrf.as_deref())
                    .map_err(Refusal::reject)?;
                delete(&state, record_id, &operator)
                    .await
                    .map_err(Refusal::reject)?;
                Ok::<_, Rejection>(see_other(&format!("/records?deleted={record_id}")))
            },
        );
    let list = warp::path!("records")
        .and(page::<Notice>(SESSION_COOKIE))
        .and(warp::cookie::optional::<String>(operators::SESSION_COOKIE))
        .and(with_state(state.clone()))
        .and_then(list_page);
    let api_list = warp::path!("api" / "records")
        .and(warp::get())
        .and(warp::query::<PageQuery>())
        .and(with_state(state.clone()))
        .and_then(|query: PageQuery, state: Arc<State>| async move {
            let asked = page_limit(query.limit.as_deref())
                .and_then(|limit| Ok((limit, page_after(query.after.as_deref())?)));
            let (limit, after) = match asked {
                Ok(asked) => asked,
                Err(message) => return Ok(json_refusal(&Refusal::BadRequest(message))),
            };
            Ok::<_, Rejection>(
                match warren_store_records::list(&state.pool, after, limit).await {
                    Ok(page) => json_page(
                        &page.records,
                        page.next
                            .map(|after| next_page("/api/records", limit, after)),
                    ),
                    Err(error) => json_refusal(&unreadable(&error)),
                },
            )
        });
    // JSON only: a cross-site form cannot send it without the browser asking first.
    let api_record = warp::path!("api" / "records")
        .and(warp::post())
        .and(warp::body::content_length_limit(limit))
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .and(with_state(state.clone()))
        .and_then(
            |headers: HeaderMap, body: bytes::Bytes, state: Arc<State>| async move {
                if !json_content_type(&headers) {
                    return Ok::<_, Rejection>(json_refusal(&Refusal::UnsupportedMediaType));
                }
                let Ok(sealed) = serde_json::from_slice::<Sealed>(&body) else {
                    return Ok(json_refusal(&Refusal::BadRequest(
                        "send {\"observation\": ..., \"sig\": ...} as /api/search gave them".into(),
                    )));
                };
                Ok(match record(&state, &sealed).await {
                    Ok((record_id, stored)) => json_reply(
                        &serde_json::json!({ "record_id": record_id, "stored": stored }),
                        if stored {
                            StatusCode::CREATED
                        } else {
                            StatusCode::ACCEPTED
                        },
                    ),
                    Err(refusal) => json_refusal(&refusal),
                })
            },
        );
    // An operator's API token, or (from a browser) locker-app's session cookie: a cross-site
    // page cannot send a DELETE without the browser asking this service first.
    let api_delete = warp::path!("api" / "records" / Uuid)
        .and(warp::delete())
        .and(api::bearer())
        .and(warp::cookie::optional::<String>(operators::SESSION_COOKIE))
        .and(with_state(state))
        .and_then(
            |record_id: Uuid,
             bearer: Option<String>,
             account: Option<String>,
             state: Arc<State>| async move {
                let credentials = Credentials {
                    session: account.as_deref(),
                    bearer: bearer.as_deref(),
                };
                let operator = match state.operators.operator(credentials).await {
                    Ok(operator) => operator,
                    Err(denied) => {
                        return Ok::<_, Rejection>(api::error(
                            denied_status(&denied),
                            &denied.to_string(),
                            None,
                        ));
                    }
                };
                Ok::<_, Rejection>(match delete(&state, record_id, &operator).await {
                    Ok(gone) => json_reply(
                        &serde_json::json!({ "record_id": record_id, "deleted": gone }),
                        if gone {
                            StatusCode::OK
                        } else {
                            StatusCode::ACCEPTED
                        },
                    ),
                    Err(refusal) => api_refusal(&refusal),
                })
            },
        );
    record_form
        .or(delete_form)
        .unify()
        .or(list)
        .unify()
        .or(api_list)
        .unify()
        .or(api_record)
        .unify()
        .or(api_delete)
        .unify()
        .boxed()
}
