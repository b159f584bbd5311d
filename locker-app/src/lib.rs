//! The locker booking frontend: web forms that publish user and locker requests, a status page
//! per request that shows the outcome once it has been projected, the users and the lockers,
//! and a check that the two stores agree. It reads user-service's and locker-service's read
//! models and writes neither; it owns the accounts database (who is signed in).

pub mod accounts;
pub mod configuration;
pub mod reconcile;
pub mod routes;
pub mod startup;
