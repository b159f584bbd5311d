//! The lockers read model: only locker-service writes it (its allocations and the outcomes it
//! decided), and locker-app reads lockers and decided requests from it.
//!
//! Writes stay in locker-service; this crate holds the collections, their documents, their
//! indexes (the schema) and what readers ask of them, and depends on no service.
//!
//! `lockers`: one document per locker, `_id` its code. A held locker has `holder` (the user),
//! `assigned_by` (the request that got it) and `take_id` (the allocation that got it, so that a
//! late second take by the same request can be told from the first); a unique sparse index on
//! `holder` makes a second locker for the same user impossible in the database itself.
//! `released_by` names the last request that freed it. A retired locker has `retired_by` (the
//! request that retired it) and `retired_at`: it is kept, for the record of who retired it and
//! when, and its code is not reused; it never has a holder (locker-service takes a locker only
//! if it is not retired, and retires one only if it has no holder). Lists that offer lockers
//! skip retired ones ([`in_service`]).
//!
//! `requests`: one document per decided request, `_id` its request id, with the outcome, who
//! asked (`actor`, for adds and retirements) and the outcome event as published, so that a
//! redelivered request publishes the very same event.

use futures::TryStreamExt;
use mongodb::bson::{self, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

pub const LOCKERS: &str = "lockers";
pub const REQUESTS: &str = "requests";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Locker {
    #[serde(rename = "_id")]
    pub code: String,
    pub location: String,
    pub added_at: bson::DateTime,
    pub added_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<bson::DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
    /// The request that retired it; a retired locker is out of service for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<bson::DateTime>,
}

impl Locker {
    /// Whether it is retired (out of service for good).
    pub fn retired(&self) -> bool {
        self.retired_by.is_some()
    }
}

/// The filter of lockers in service (not retired), for lists that offer lockers.
pub fn in_service() -> Document {
    doc! { "retired_by": { "$exists": false } }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    #[serde(rename = "_id")]
    pub request_id: String,
    /// `add`, `request`, `release` or `retire`.
    pub kind: String,
    /// `added`, `code-taken`, `code-retired`, `assigned`, `none-free`, `already-holds`,
    /// `released`, `holds-none`, `retired`, `no-such-locker`, `held`, `already-retired`.
    pub outcome: String,
    #[serde(default)]
    pub locker: Option<String>,
    /// For `assigned`, the take that got the locker (absent in outcomes stored before takes had
    /// ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_id: Option<String>,
    /// The user the request is about (for a retirement refused as `held`, the holder).
    #[serde(default)]
    pub user: Option<String>,
    /// The signed-in account that asked, for an add or a retirement (absent before accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The outcome event as published (JSON), if the request has one.
    #[serde(default)]
    pub event: Option<String>,
    pub decided_at: bson::DateTime,
}

pub fn lockers(database: &Database) -> Collection<Locker> {
    database.collection(LOCKERS)
}

pub fn requests(database: &Database) -> Collection<Request> {
    database.collection(REQUESTS)
}

/// Creates the indexes (idempotent): one locker per holder, and lookups by request.
pub async fn prepare(database: &Database) -> anyhow::Result<()> {
    let sparse = |name: &str, unique: bool| {
        IndexOptions::builder()
            .name(name.to_owned())
            .unique(unique)
            .sparse(true)
            .build()
    };
    lockers(database)
        .create_indexes([
            IndexModel::builder()
                .keys(doc! { "holder": 1 })
                .options(sparse("one_locker_per_holder", true))
                .build(),
            IndexModel::builder()
                .keys(doc! { "assigned_by": 1 })
                .options(sparse("by_assigning_request", false))
                .build(),
            IndexModel::builder()
                .keys(doc! { "released_by": 1 })
                .options(sparse("by_releasing_request", false))
                .build(),
            IndexModel::builder()
                .keys(doc! { "retired_by": 1 })
                .options(sparse("by_retiring_request", false))
                .build(),
        ])
        .await?;
    Ok(())
}

/// Every locker, by code.
pub async fn all_lockers(database: &Database) -> anyhow::Result<Vec<Locker>> {
    Ok(lockers(database)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?)
}

/// A decided request, if it is.
pub async fn request(database: &Database, request_id: &str) -> anyhow::Result<Option<Request>> {
    Ok(requests(database)
        .find_one(doc! { "_id": request_id })
        .await?)
}

/// Whether `error` is a unique-index violation.
pub fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(failure)) => failure.code == 11000,
        ErrorKind::Command(failure) => failure.code == 11000,
        ErrorKind::InsertMany(failure) => failure
            .write_errors
            .iter()
            .flatten()
            .any(|failure| failure.code == 11000),
        _ => false,
    }
}
