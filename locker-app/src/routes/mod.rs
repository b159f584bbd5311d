//! The pages and endpoints of locker-app; refusals become pages through
//! `service_kit::web::recover`.

mod actions;
mod pages;
mod requests;

use std::sync::Arc;

use deadpool_postgres::Pool;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warren_messages::Publisher;
use warren_service_kit::web::{Asset, Attempts, Csrf, assets, site, with_state};

/// What every handler needs.
pub struct State {
    /// The users read model (user-service's database).
    pub users: Pool,
    /// The lockers read model (locker-service's database).
    pub lockers: mongodb::Database,
    pub publisher: Publisher,
    pub csrf: Csrf,
    /// Signs the forms' attempt ids, which become the requests' ids and message ids.
    pub attempts: Attempts,
    /// Signs the links to request status pages, so that only requests sent from here have one.
    pub links: Csrf,
    pub max_body_bytes: u64,
}

pub const SESSION_COOKIE: &str = "warren_session";

/// The pages' stylesheet and the request page's script (no inline script or style: the
/// Content-Security-Policy forbids them).
const ASSETS: &[Asset] = &[
    Asset::css("site.css", include_str!("../../static/site.css")),
    Asset::script("request.js", include_str!("../../static/request.js")),
];

/// Every page and endpoint, with refusals turned into responses.
pub fn routes(state: Arc<State>) -> BoxedFilter<(Response,)> {
    site(
        pages::routes(state.clone())
            .or(actions::routes(state.clone()))
            .unify()
            .or(requests::routes(state))
            .unify()
            .or(assets(ASSETS))
            .unify(),
    )
}
