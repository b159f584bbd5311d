//! `GET /results` (the page, which works without JavaScript; `/static/results.js` makes it
//! live), `GET /api/results` (JSON) and `GET /results/stream` (server-sent events, one each time
//! the tally changes; past `results.max_streams` open at once, 503 with `Retry-After`, and the
//! page reloads itself every `STREAM_RETRY_AFTER_SECS` instead).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use futures::StreamExt;
use tokio_stream::wrappers::WatchStream;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use warren_service_kit::web::{Refusal, html};

use super::{State, with_state};
use crate::storage::{self, Tally};

#[derive(Template)]
#[template(path = "results.html")]
struct ResultsPage<'a> {
    tally: &'a Tally,
    /// How often the page reloads itself when it cannot have a stream.
    reload_ms: u64,
}

/// How long a page refused a stream waits before it reloads (and asks again).
pub const STREAM_RETRY_AFTER_SECS: u64 = 5;

/// The answer to a stream over the cap: short, for a script rather than a person.
fn streams_full() -> Response {
    let mut response = warp::reply::with_status(
        "too many live results pages are open: reload the page for the current results",
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .into_response();
    response.headers_mut().insert(
        warp::http::header::RETRY_AFTER,
        warp::http::HeaderValue::from(STREAM_RETRY_AFTER_SECS),
    );
    response
}

async fn current(state: Arc<State>) -> Result<Tally, Rejection> {
    storage::tally(&state.pool, &state.poll)
        .await
        .map_err(|error| {
            tracing::warn!(error = %format!("{error:#}"), "cannot read the tally");
            Refusal::Unavailable("the results cannot be read right now".into()).reject()
        })
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let page = warp::path!("results")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(|state: Arc<State>| async move {
            let tally = current(state).await?;
            let page = ResultsPage {
                tally: &tally,
                reload_ms: STREAM_RETRY_AFTER_SECS * 1000,
            };
            Ok::<_, Rejection>(html(&page, StatusCode::OK))
        });
    let api = warp::path!("api" / "results")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(|state: Arc<State>| async move {
            let tally = current(state).await?;
            Ok::<_, Rejection>(warp::reply::json(&tally).into_response())
        });
    let stream = warp::path!("results" / "stream")
        .and(warp::get())
        .and(with_state(state))
        .map(|state: Arc<State>| {
            let Some(open) = state.streams.open() else {
                return streams_full();
            };
            let events = WatchStream::new(state.live.clone()).filter_map(move |tally| {
                // The stream holds its place until the browser goes away and it is dropped.
                let _open = &open;
                async move {
                    let tally = tally?;
                    let event = warp::sse::Event::default()
                        .event("tally")
                        .json_data(&tally)
                        .ok()?;
                    Some(Ok::<_, Infallible>(event))
                }
            });
            let keep_alive = warp::sse::keep_alive().interval(Duration::from_secs(15));
            warp::sse::reply(keep_alive.stream(events)).into_response()
        });
    page.or(api).unify().or(stream).unify().boxed()
}
