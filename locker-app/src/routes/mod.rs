//! The pages and endpoints of locker-app; refusals become pages through
//! `service_kit::web::recover`.

mod account;
mod actions;
mod api;
pub mod identity;
mod pages;
mod requests;
mod tokens;

use std::sync::Arc;

use deadpool_postgres::Pool;
use uuid::Uuid;
use warp::Rejection;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};
use warren_messages::Publisher;
use warren_service_kit::limits::TrustedProxies;
use warren_service_kit::web::{Asset, Attempts, Csrf, Refusal, assets, site, with_state};

/// What every handler needs.
pub struct State {
    /// The users read model (user-service's database).
    pub users: Pool,
    /// The lockers read model (locker-service's database).
    pub lockers: mongodb::Database,
    /// Who is signed in (the accounts database, locker-app's own).
    pub accounts: crate::accounts::Accounts,
    pub publisher: Publisher,
    pub csrf: Csrf,
    /// Signs the forms' attempt ids, which become the requests' ids and message ids.
    pub attempts: Attempts,
    /// Signs the links to request status pages, so that only requests sent from here have one.
    pub links: Csrf,
    pub max_body_bytes: u64,
    /// Whose `X-Forwarded-For` names the client (the sign-in throttle counts per address).
    pub trusted_proxies: TrustedProxies,
}

/// What every page's navigation shows: who is signed in, the operators' pages to an operator,
/// and the sign-out form (bound to the session).
pub struct Nav {
    pub name: Option<String>,
    pub operator: bool,
    pub csrf: String,
}

impl Nav {
    pub fn of(state: &State, visitor: &identity::Visitor) -> Self {
        Self {
            name: visitor
                .identity
                .as_ref()
                .map(|identity| identity.name.clone()),
            operator: visitor
                .identity
                .as_ref()
                .is_some_and(warren_store_accounts::Identity::is_operator),
            csrf: state.csrf.token(visitor.form_session()),
        }
    }
}

/// Gives each form on a page an attempt id of its own (the request id it sends), so that
/// sending one form twice is one request and two forms are two.
pub struct Forms {
    attempts: Attempts,
    session: Uuid,
}

impl Forms {
    /// For the forms of the session `session` (see `identity::Visitor::form_session`).
    pub fn new(state: &State, session: Uuid) -> Self {
        Self {
            attempts: state.attempts.clone(),
            session,
        }
    }

    /// A fresh attempt id for one form.
    pub fn attempt(&self) -> String {
        self.attempts.issue(self.session)
    }
}

/// A page with forms is not kept by the browser, so that going back to it gives new attempt
/// ids rather than sending a used one with other values.
pub fn fresh(page: Response) -> Response {
    warp::reply::with_header(page, "cache-control", "no-store").into_response()
}

/// A store that cannot be read now: 503, saying what, with the cause in the log only.
pub fn unavailable(what: &str, error: &anyhow::Error) -> Rejection {
    tracing::warn!(error = %format!("{error:#}"), "cannot read {what}");
    Refusal::Unavailable(format!("{what} cannot be read right now; please try again")).reject()
}

/// Something locker-app cannot make right now (no cause to log).
pub fn unavailable_plain(what: &str) -> Rejection {
    Refusal::Unavailable(format!("{what} cannot be made right now; please try again")).reject()
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
        account::routes(state.clone())
            .or(tokens::routes(state.clone()))
            .unify()
            .or(pages::routes(state.clone()))
            .unify()
            .or(actions::routes(state.clone()))
            .unify()
            .or(requests::routes(state.clone()))
            .unify()
            .or(assets(ASSETS))
            .unify()
            .or(api::routes(state))
            .unify(),
    )
}
