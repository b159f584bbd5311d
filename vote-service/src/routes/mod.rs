//! The pages and endpoints of vote-service, one file each; refusals become pages through
//! `service_kit::web::recover`.

mod ballot;
mod results;
mod vote;

use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::Poll;
use crate::live::LiveTally;
use deadpool_postgres::Pool;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warren_messages::Publisher;
use warren_service_kit::web::{Attempts, Csrf, site, with_state};

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
    pub hostname: String,
    pub max_body_bytes: u64,
}

pub const VOTER_COOKIE: &str = "warren_voter";
pub const CHOICE_COOKIE: &str = "warren_choice";

/// Every page and endpoint, with refusals turned into responses.
pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    site(
        ballot::route(state.clone())
            .or(vote::route(state.clone()))
            .unify()
            .or(results::routes(state))
            .unify(),
    )
}
