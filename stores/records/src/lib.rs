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

/// Every record, newest first.
pub async fn list(pool: &Pool) -> anyhow::Result<Vec<Record>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT record_id, city, region, country, latitude, longitude, timezone, local_time, \
                 observed_at, temperature_c, weather_code, condition, is_day, recorded_at \
             FROM records ORDER BY recorded_at DESC, record_id DESC",
            &[],
        )
        .await?;
    Ok(rows.iter().map(record).collect())
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
