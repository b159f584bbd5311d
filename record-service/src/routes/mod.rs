//! The pages and endpoints of record-service: `search` (the weather for a city) and `records`
//! (record, list, delete), each as HTML forms and as JSON under `/api`.

mod records;
mod search;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deadpool_postgres::Pool;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use warp::Filter;
use warp::Reply;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warren_messages::Publisher;
use warren_messages::events::records::Observation;
use warren_service_kit::limits::{Limiter, TrustedProxies};
use warren_service_kit::web::{Asset, Csrf, Refusal, assets, site, with_state};

use crate::operators::Operators;
use crate::weather::WeatherClient;

/// What every handler needs.
pub struct State {
    pub pool: Pool,
    pub publisher: Publisher,
    pub weather: WeatherClient,
    pub csrf: Csrf,
    /// Signs the observations a page shows, so that Record publishes exactly those.
    pub seals: Csrf,
    pub max_body_bytes: u64,
    /// How long a Record or Delete waits for the read model to show its effect.
    pub settle: Duration,
    /// Who is asking, for Delete.
    pub operators: Operators,
    /// Where operators sign in (`web.sign_in_url`; may be empty).
    pub sign_in_url: String,
    /// Searches per client address (`weather.search_limit`).
    pub search_limit: Limiter,
    /// Whose `X-Forwarded-For` names the client.
    pub clients: TrustedProxies,
}

pub const SESSION_COOKIE: &str = "warren_session";

/// Records made from the same shown observation share an id: pressing Record twice keeps one.
const RECORD_IDS: Uuid = Uuid::from_u128(0x5761_7272_656e_2d72_6563_6f72_6473_0001);

/// An observation as a page carries it: its JSON (base64url) and a signature of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sealed {
    pub observation: String,
    pub sig: String,
}

pub fn seal(state: &State, observation: &Observation) -> Sealed {
    let json = serde_json::to_vec(observation).expect("an observation serialises");
    Sealed {
        observation: URL_SAFE_NO_PAD.encode(&json),
        sig: state.seals.sign(&json),
    }
}

/// The observation a page showed, checked: present, signed by this service, complete.
pub fn unseal(
    state: &State,
    observation: Option<&str>,
    sig: Option<&str>,
) -> Result<(Uuid, Observation), Refusal> {
    let (Some(observation), Some(sig)) = (
        observation.filter(|value| !value.is_empty()),
        sig.filter(|value| !value.is_empty()),
    ) else {
        return Err(Refusal::BadRequest(
            "there is no weather to record: search for a city first".into(),
        ));
    };
    let altered = || {
        Refusal::BadRequest(
            "the weather to record is not what this site showed: search again".into(),
        )
    };
    let json = URL_SAFE_NO_PAD.decode(observation).map_err(|_| altered())?;
    if !state.seals.verify_signature(&json, sig) {
        return Err(altered());
    }
    let observation: Observation = serde_json::from_slice(&json).map_err(|_| altered())?;
    observation.validate().map_err(Refusal::BadRequest)?;
    Ok((Uuid::new_v5(&RECORD_IDS, sig.as_bytes()), observation))
}

/// `value` as JSON with `status`, for the API.
pub fn json_reply(value: &serde_json::Value, status: StatusCode) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

/// A refusal as JSON, for the API.
pub fn json_refusal(refusal: &Refusal) -> Response {
    refusal.with_headers(json_reply(
        &serde_json::json!({ "error": refusal.to_string() }),
        refusal.status(),
    ))
}

/// Waits (up to the settle time) until the read model agrees with `done`.
pub async fn settled(state: &State, record_id: Uuid, stored: bool) -> bool {
    let deadline = tokio::time::Instant::now() + state.settle;
    loop {
        if crate::storage::exists(&state.pool, record_id)
            .await
            .is_ok_and(|exists| exists == stored)
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn see_other(location: &str) -> Response {
    warp::reply::with_header(StatusCode::SEE_OTHER, "location", location).into_response()
}

/// The pages' stylesheet (no inline style: the Content-Security-Policy forbids it).
const ASSETS: &[Asset] = &[Asset::css(
    "site.css",
    include_str!("../../static/site.css"),
)];

/// Every page and endpoint, with refusals turned into responses.
pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    site(
        search::routes(state.clone())
            .or(records::routes(state))
            .unify()
            .or(assets(ASSETS))
            .unify(),
    )
}
