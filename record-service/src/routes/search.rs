//! `GET /?city=...[&place=ID]`: the weather for a city; when several places share the name,
//! the user picks one. `GET /api/search` answers the same as JSON, with the sealed observation
//! that `POST /api/records` takes.
//!
//! Each search (a request naming a city) counts against the client address's rate
//! (`weather.search_limit`): past it, 429 with `Retry-After` and nothing asked of the provider.

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use serde::{Deserialize, Serialize};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};
use warren_messages::events::records::Observation;
use warren_service_kit::limits::client_address;
use warren_service_kit::web::{Refusal, Session, html, page};

use super::{SESSION_COOKIE, Sealed, State, json_refusal, seal, with_state};
use crate::weather::{Place, WeatherError, icon};

#[derive(Debug, Deserialize)]
struct Query {
    city: Option<String>,
    place: Option<i64>,
}

/// The weather as a page shows it.
#[derive(Debug, Serialize)]
pub struct Shown {
    pub observation: Observation,
    pub sealed: Sealed,
    pub icon: &'static str,
    pub temperature: String,
    pub local_time: String,
}

/// What a search found: nothing asked, a choice of places, or the weather at one.
enum Found {
    Nothing,
    Places(Vec<Place>),
    Weather(Box<Shown>),
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    city: String,
    error: Option<String>,
    places: Vec<Place>,
    shown: Option<Shown>,
    csrf: String,
}

const MAX_CITY_CHARS: usize = 100;

fn refusal(error: WeatherError) -> Refusal {
    match error {
        WeatherError::NotFound(_) => Refusal::NotFound(error.to_string()),
        WeatherError::Unavailable(_) | WeatherError::Slow(_) => {
            Refusal::Unavailable(format!("{error}; please try again later"))
        }
    }
}

async fn find(state: &State, client: IpAddr, query: &Query) -> Result<(String, Found), Refusal> {
    let city = query.city.as_deref().unwrap_or_default().trim().to_owned();
    if city.is_empty() {
        return Ok((city, Found::Nothing));
    }
    state.search_limit.admit(
        client,
        "you have searched too often: wait a moment, then search again",
    )?;
    if city.chars().count() > MAX_CITY_CHARS || city.chars().any(char::is_control) {
        return Err(Refusal::BadRequest(format!(
            "a city name has at most {MAX_CITY_CHARS} characters and no control characters"
        )));
    }
    let places = state.weather.search(&city).await.map_err(refusal)?;
    let place = match (query.place, places.len()) {
        (Some(id), _) => places
            .iter()
            .find(|place| place.id == id)
            .ok_or_else(|| Refusal::NotFound(format!("no place called {city:?} has the id {id}")))?
            .clone(),
        (None, 1) => places[0].clone(),
        (None, _) => return Ok((city, Found::Places(places))),
    };
    let observation = state.weather.current(&place).await.map_err(refusal)?;
    let shown = Shown {
        sealed: seal(state, &observation),
        icon: icon(observation.weather_code, observation.is_day),
        temperature: format!("{:.1}", observation.temperature_c),
        local_time: observation.local_time.replace('T', " "),
        observation,
    };
    Ok((city, Found::Weather(Box::new(shown))))
}

async fn search_page(
    query: Query,
    session: Session,
    client: IpAddr,
    state: Arc<State>,
) -> Result<Response, Rejection> {
    let mut page = SearchPage {
        city: query.city.clone().unwrap_or_default(),
        error: None,
        places: Vec::new(),
        shown: None,
        csrf: state.csrf.token(session.id),
    };
    let refused = match find(&state, client, &query).await {
        Ok((_, Found::Nothing)) => None,
        Ok((_, Found::Places(places))) => {
            page.places = places;
            None
        }
        Ok((_, Found::Weather(shown))) => {
            page.shown = Some(*shown);
            None
        }
        Err(refusal) => {
            page.error = Some(refusal.to_string());
            Some(refusal)
        }
    };
    let status = refused.as_ref().map_or(StatusCode::OK, Refusal::status);
    let response = session.attach(html(&page, status));
    Ok(match refused {
        Some(refusal) => refusal.with_headers(response),
        None => response,
    })
}

async fn api(query: Query, client: IpAddr, state: Arc<State>) -> Result<Response, Rejection> {
    Ok(match find(&state, client, &query).await {
        Ok((_, Found::Nothing)) => {
            json_refusal(&Refusal::BadRequest("name a city: ?city=...".into()))
        }
        Ok((_, Found::Places(places))) => {
            let places: Vec<serde_json::Value> = places
                .iter()
                .map(|place| {
                    serde_json::json!({
                        "id": place.id, "name": place.name, "region": place.admin1,
                        "country": place.country, "label": place.label(),
                    })
                })
                .collect();
            warp::reply::json(&serde_json::json!({ "places": places })).into_response()
        }
        Ok((_, Found::Weather(shown))) => warp::reply::json(&shown).into_response(),
        Err(refusal) => json_refusal(&refusal),
    })
}

pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    let page = warp::path::end()
        .and(page::<Query>(SESSION_COOKIE))
        .and(client_address(state.clients.clone()))
        .and(with_state(state.clone()))
        .and_then(search_page);
    let api = warp::path!("api" / "search")
        .and(warp::get())
        .and(warp::query::<Query>())
        .and(client_address(state.clients.clone()))
        .and(with_state(state))
        .and_then(api);
    page.or(api).unify().boxed()
}
