//! The records read model: only record-service's projection writes it (from `record.recorded`
//! and `record.deleted`), and record-service's pages and API read it.
//!
//! `records` holds each recorded observation once; `deleted_records` remembers deletions, so a
//! deletion that arrives before its record still wins. The schema is this crate's
//! `migrations/`, after the shared exactly-once table. Writes stay in the projection; this
//! crate holds the schema, the rows and the read queries, and depends on no service.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use uuid::Uuid;
use warren_messages::events::records::Observation;

refinery::embed_migrations!("migrations");

/// The shared exactly-once table, then the records tables.
pub fn migrations() -> refinery::Runner {
    warren_service_kit::postgres::after_claims(&migrations::runner())
}

/// A stored record: the observation as the recorder showed it, and when it was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub record_id: Uuid,
    #[serde(flatten)]
    pub observation: Observation,
    pub recorded_at: DateTime<Utc>,
}

fn record(row: &tokio_postgres::Row) -> Record {
    Record {
        record_id: row.get(0),
        observation: Observation {
            city: row.get(1),
            region: row.get(2),
            country: row.get(3),
            latitude: row.get(4),
            longitude: row.get(5),
            timezone: row.get(6),
            local_time: row.get(7),
            observed_at: row.get(8),
            temperature_c: row.get(9),
            // Written from a u16; anything else reads as an unknown code.
            weather_code: u16::try_from(row.get::<_, i32>(10)).unwrap_or(u16::MAX),
            condition: row.get(11),
            is_day: row.get(12),
        },
        recorded_at: row.get(13),
    }
}

/// Where a page of records starts: just after (older than) this record, newest first. Records
/// are ordered by `(recorded_at, record_id)`, unique since the id is, so the position stays
/// right even if that record is deleted meanwhile. Written `<recorded_at>_<record_id>`, the
/// time in RFC 3339 with microseconds (PostgreSQL's precision), as `?after=` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub recorded_at: DateTime<Utc>,
    pub record_id: Uuid,
}

impl After {
    /// The position just after `record`.
    pub fn of(record: &Record) -> Self {
        Self {
            recorded_at: record.recorded_at,
            record_id: record.record_id,
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let unreadable =
            || "after must be <recorded_at>_<record_id>, as a page's next link gives it".to_owned();
        let (time, id) = text.split_once('_').ok_or_else(unreadable)?;
        Ok(Self {
            recorded_at: DateTime::parse_from_rfc3339(time)
                .map_err(|_| unreadable())?
                .with_timezone(&Utc),
            record_id: id.parse().map_err(|_| unreadable())?,
        })
    }
}

impl std::fmt::Display for After {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = self
            .recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        write!(f, "{time}_{}", self.record_id)
    }
}

/// One page of records, newest first, and where the next page starts, if there is one.
#[derive(Debug, Clone)]
pub struct Page {
    pub records: Vec<Record>,
    pub next: Option<After>,
}

const RECORD_COLUMNS: &str = "SELECT record_id, city, region, country, latitude, longitude, \
     timezone, local_time, observed_at, temperature_c, weather_code, condition, is_day, \
     recorded_at FROM records";

/// The newest records. Keyset pagination on `records_newest_first`: the index serves both the
/// order and the start, so a page costs the same at any depth and any table size.
pub fn newest_records() -> String {
    format!("{RECORD_COLUMNS} ORDER BY recorded_at DESC, record_id DESC LIMIT $1")
}

/// The records older than `($1, $2)`, the last record of the previous page.
pub fn records_after() -> String {
    format!(
        "{RECORD_COLUMNS} WHERE (recorded_at, record_id) < ($1, $2) \
         ORDER BY recorded_at DESC, record_id DESC LIMIT $3"
    )
}

/// Up to `limit` records, newest first, after `after` (from the newest without it).
pub async fn list(pool: &Pool, after: Option<After>, limit: usize) -> anyhow::Result<Page> {
    let client = pool.get().await?;
    let fetch = i64::try_from(limit)?.saturating_add(1);
    let rows = match after {
        None => client.query(&newest_records(), &[&fetch]).await?,
        Some(after) => {
            client
                .query(
                    &records_after(),
                    &[&after.recorded_at, &after.record_id, &fetch],
                )
                .await?
        }
    };
    let mut records: Vec<Record> = rows.iter().map(record).collect();
    let more = records.len() > limit;
    records.truncate(limit);
    let next = if more {
        records.last().map(After::of)
    } else {
        None
    };
    Ok(Page { records, next })
}

/// Whether `table` has a row for `record_id`.
async fn holds(pool: &Pool, table: Table, record_id: Uuid) -> anyhow::Result<bool> {
    let sql = match table {
        Table::Records => "SELECT 1 FROM records WHERE record_id = $1",
        Table::Deleted => "SELECT 1 FROM deleted_records WHERE record_id = $1",
    };
    Ok(pool
        .get()
        .await?
        .query_opt(sql, &[&record_id])
        .await?
        .is_some())
}

enum Table {
    Records,
    Deleted,
}

/// Whether the record is stored (and not deleted).
pub async fn exists(pool: &Pool, record_id: Uuid) -> anyhow::Result<bool> {
    holds(pool, Table::Records, record_id).await
}

/// Whether the record was deleted.
pub async fn was_deleted(pool: &Pool, record_id: Uuid) -> anyhow::Result<bool> {
    holds(pool, Table::Deleted, record_id).await
}
