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
use mongodb::options::{Hint, IndexOptions};
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

/// One page of a list in key order, and the key to ask for the page after it (`after`), if
/// there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A `find` as readers send it: the filter, the order, the number of documents asked for and
/// the index named, so that a test can ask the server how it would run the very same query.
#[derive(Debug, Clone)]
pub struct Query {
    pub filter: Document,
    pub sort: Document,
    pub limit: i64,
    pub hint: &'static str,
}

impl Query {
    async fn run(self, collection: Collection<Locker>) -> anyhow::Result<Vec<Locker>> {
        Ok(collection
            .find(self.filter)
            .sort(self.sort)
            .limit(self.limit)
            .hint(Hint::Name(self.hint.to_owned()))
            .await?
            .try_collect()
            .await?)
    }

    /// The `explain` command for this query on the lockers collection.
    pub fn explain(&self) -> Document {
        doc! {
            "explain": {
                "find": LOCKERS,
                "filter": self.filter.clone(),
                "sort": self.sort.clone(),
                "limit": self.limit,
                "hint": self.hint,
            },
            "verbosity": "queryPlanner",
        }
    }
}

/// The index MongoDB keeps on `_id`.
pub const BY_CODE: &str = "_id_";
/// The unique sparse index on `holder`.
pub const BY_HOLDER: &str = "one_locker_per_holder";

/// Lockers by code after `after`, `limit + 1` of them (one more than a page, to know whether
/// another page follows). Keyset pagination on `_id`: its index serves both the order and the
/// start, so a page costs the same at any depth.
pub fn lockers_query(after: Option<&str>, limit: usize) -> Query {
    // Retired lockers are left out of the list (kept in the collection for the record).
    let mut filter = in_service();
    if let Some(after) = after {
        filter.insert("_id", doc! { "$gt": after });
    }
    Query {
        filter,
        sort: doc! { "_id": 1 },
        limit: fetch(limit),
        hint: BY_CODE,
    }
}

/// Held lockers by holder after the name `after`, `limit` of them, from the index on `holder`.
pub fn held_query(after: Option<&str>, limit: usize) -> Query {
    Query {
        // Every holder is a non-empty string, so `>= ""` is every held locker; `$gt`/`$gte`
        // match strings only, which keeps the scan on the string keys of the index.
        filter: match after {
            None => doc! { "holder": { "$gte": "" } },
            Some(after) => doc! { "holder": { "$gt": after } },
        },
        sort: doc! { "holder": 1 },
        limit: i64::try_from(limit).unwrap_or(i64::MAX),
        hint: BY_HOLDER,
    }
}

fn fetch(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)
}

/// Up to `limit` lockers by code, after the code `after` (from the first without one).
pub async fn lockers_page(
    database: &Database,
    after: Option<&str>,
    limit: usize,
) -> anyhow::Result<Page<Locker>> {
    let mut found = lockers_query(after, limit).run(lockers(database)).await?;
    let more = found.len() > limit;
    found.truncate(limit);
    let next = if more {
        found.last().map(|locker| locker.code.clone())
    } else {
        None
    };
    Ok(Page { items: found, next })
}

/// Up to `limit` held lockers by holder, whose holders come after the name `after`.
pub async fn held_after(
    database: &Database,
    after: Option<&str>,
    limit: usize,
) -> anyhow::Result<Vec<Locker>> {
    held_query(after, limit).run(lockers(database)).await
}

/// Every locker, by code: unbounded, so for tests of a handful of lockers only; every list a
/// reader shows goes through [`lockers_page`].
pub async fn all_lockers(database: &Database) -> anyhow::Result<Vec<Locker>> {
    Ok(lockers(database)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?)
}

/// The lockers with these codes (those that exist), by code.
pub async fn lockers_coded(database: &Database, codes: &[&str]) -> anyhow::Result<Vec<Locker>> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(lockers(database)
        .find(doc! { "_id": { "$in": codes } })
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
