//! `GET /results` (the page, which works without JavaScript), `GET /api/results` (JSON) and
//! `GET /results/stream` (server-sent events, one each time the tally changes).

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
            Ok::<_, Rejection>(html(&ResultsPage { tally: &tally }, StatusCode::OK))
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
            let events = WatchStream::new(state.live.clone()).filter_map(|tally| async move {
                let tally = tally?;
                let event = warp::sse::Event::default()
                    .event("tally")
                    .json_data(&tally)
                    .ok()?;
                Some(Ok::<_, Infallible>(event))
            });
            let keep_alive = warp::sse::keep_alive().interval(Duration::from_secs(15));
            warp::sse::reply(keep_alive.stream(events)).into_response()
        });
    page.or(api).unify().or(stream).unify().boxed()
}
