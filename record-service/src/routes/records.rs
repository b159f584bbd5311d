//! Recording and deleting: `POST /records` (the Record button: publishes exactly the
//! observation the page showed, signed by this service), `GET /records` (newest first),
//! `POST /records/{id}/delete`; and `GET`/`POST /api/records`, `DELETE /api/records/{id}`.
//! Each publish waits for the broker's confirm; the page then waits, for a bounded time, until
//! the read model shows the change, and says so if it does not yet.

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
}

#[derive(Template)]
#[template(path = "records.html")]
struct RecordsPage {
    records: Vec<Record>,
    notice: Option<String>,
    /// The page refreshes itself until the change it reports shows.
    waiting: bool,
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
    let records = storage::list(&state.pool)
        .await
        .map_err(|error| unreadable(&error).reject())?;
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
        .and(with_state(state.clone()))
        .and_then(|state: Arc<State>| async move {
            Ok::<_, Rejection>(match storage::list(&state.pool).await {
                Ok(records) => warp::reply::json(&records).into_response(),
                Err(error) => json_refusal(&unreadable(&error)),
            })
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
