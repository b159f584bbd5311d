//! Which instance decides a request: a `claims` document per request being decided, `_id` its
//! request id, so MongoDB's unique `_id` lets exactly one instance insert it. The others leave
//! the request to that instance and retry until its decision is stored.
//!
//! A claim names its owner (one id per running `LockerDesk`) and when it was taken, and is
//! deleted once the decision is stored. An instance that crashes between its claim and its
//! decision leaves the claim behind; once it is older than the lease, the next delivery of the
//! request takes it over (compare-and-set on owner and time, so one taker wins) and decides.
//!
//! Why a takeover is safe even if the old owner was only slow, not dead: the claim keeps
//! instances from deciding the same request at once in the ordinary case, but correctness does
//! not rest on it. Each decision is idempotent by the request id (a locker it took is recognised
//! by `assigned_by`, one it freed by `released_by`); the first decision stored under the request
//! id stands and every other decider publishes that one; and before publishing, every delivery
//! settles the lockers with the stored outcome: every locker taken by the request is freed again
//! but the one its stored outcome names, by the take it names (`domain::settle`; a late take can
//! be of that very locker, after the user released it). A late decider of a locker request
//! therefore cannot leave a second outcome or a locker its request did not get, and a crash
//! before the settle leaves the delivery unacknowledged, so its redelivery settles. (A late
//! decider of a release that finds the user holding a locker again, given by a later request,
//! frees it, and nothing undoes that: releases are not settled.) The owner's and the taker's
//! clocks (the lease is measured by the taker against the owner's `claimed_at`) decide only how
//! soon a takeover happens, never whether the outcome is right.

use std::fmt;
use std::time::Duration;

use mongodb::Database;
use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

use crate::store::is_duplicate_key;

pub const CLAIMS: &str = "claims";

/// How long a claim protects a decision that is in progress. Deciding is a handful of MongoDB
/// operations; a claim this old belongs to an instance that crashed or hangs.
pub const LEASE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    #[serde(rename = "_id")]
    pub request_id: String,
    /// The deciding instance.
    pub owner: String,
    pub claimed_at: bson::DateTime,
}

pub fn claims(database: &Database) -> mongodb::Collection<Claim> {
    database.collection(CLAIMS)
}

/// Another instance holds the request's claim and has not stored its decision yet: retry.
#[derive(Debug)]
pub struct DecidedElsewhere;

impl fmt::Display for DecidedElsewhere {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("another instance is deciding this request")
    }
}

impl std::error::Error for DecidedElsewhere {}

/// A fresh owner id for an instance.
pub fn new_owner() -> String {
    bson::oid::ObjectId::new().to_hex()
}

/// Claims `request_id` for `owner`: true if `owner` may decide it now (a new claim, its own
/// earlier claim, or one older than `lease` taken over), false if another instance holds it.
pub async fn claim(
    database: &Database,
    request_id: &str,
    owner: &str,
    lease: Duration,
) -> anyhow::Result<bool> {
    let now = bson::DateTime::now();
    let mine = Claim {
        request_id: request_id.to_owned(),
        owner: owner.to_owned(),
        claimed_at: now,
    };
    match claims(database).insert_one(&mine).await {
        Ok(_) => return Ok(true),
        Err(error) if is_duplicate_key(&error) => {}
        Err(error) => return Err(error.into()),
    }
    let Some(held) = claims(database)
        .find_one(doc! { "_id": request_id })
        .await?
    else {
        // Deleted since the insert failed: its owner stored a decision, which the caller reads.
        return Ok(false);
    };
    if held.owner == owner {
        // This instance's own claim, from an attempt that failed part-way.
        return Ok(true);
    }
    let age = now
        .to_system_time()
        .duration_since(held.claimed_at.to_system_time())
        .unwrap_or_default();
    if age < lease {
        return Ok(false);
    }
    tracing::warn!(
        request_id,
        previous_owner = %held.owner,
        age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
        "taking over a stale claim"
    );
    let taken = claims(database)
        .find_one_and_update(
            doc! { "_id": request_id, "owner": &held.owner, "claimed_at": held.claimed_at },
            doc! { "$set": { "owner": owner, "claimed_at": now } },
        )
        .await?;
    Ok(taken.is_some())
}

/// Gives up `owner`'s claim on `request_id` once its decision is stored.
pub async fn release(database: &Database, request_id: &str, owner: &str) -> anyhow::Result<()> {
    claims(database)
        .delete_one(doc! { "_id": request_id, "owner": owner })
        .await?;
    Ok(())
}
