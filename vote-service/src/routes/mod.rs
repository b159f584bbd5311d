//! The pages and endpoints of vote-service, one file each; refusals become pages through
//! `service_kit::web::recover`.

mod ballot;
mod results;
mod vote;

use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::Poll;
use crate::live::{LiveTally, Streams};
use deadpool_postgres::Pool;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warren_messages::Publisher;
use warren_service_kit::limits::{Limiter, TrustedProxies};
use warren_service_kit::web::{Asset, Attempts, Csrf, assets, site, with_state};

/// What every handler needs.
pub struct State {
    pub poll: Arc<Poll>,
    pub publisher: Publisher,
    pub pool: Pool,
    pub csrf: Csrf,
    /// Signs the ballots' attempt ids, which become the votes' message ids.
    pub attempts: Attempts,
    /// Signs the voter's log cookie (`voter_log`).
    pub voter_log: Csrf,
    pub clock: Clock,
    pub live: LiveTally,
    /// The results streams open at once, capped.
    pub streams: Streams,
    /// `POST /vote` per client address.
    pub vote_limit: Limiter,
    /// Whose `X-Forwarded-For` names the client.
    pub clients: TrustedProxies,
    pub hostname: String,
    pub max_body_bytes: u64,
}

pub const VOTER_COOKIE: &str = "warren_voter";
pub const CHOICE_COOKIE: &str = "warren_choice";

/// The pages' stylesheet and the results page's script (no inline script or style: the
/// Content-Security-Policy forbids them).
const ASSETS: &[Asset] = &[
    Asset::css("site.css", include_str!("../../static/site.css")),
    Asset::script("results.js", include_str!("../../static/results.js")),
];

/// Every page and endpoint, with refusals turned into responses.
pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    site(
        ballot::route(state.clone())
            .or(vote::route(state.clone()))
            .unify()
            .or(results::routes(state))
            .unify()
            .or(assets(ASSETS))
            .unify(),
    )
}
