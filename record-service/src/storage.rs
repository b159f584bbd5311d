//! Reads the records read model.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub record_id: Uuid,
    pub city: String,
    pub region: Option<String>,
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    pub timezone: String,
    pub local_time: String,
    pub temperature_c: f64,
    pub weather_code: i32,
    pub condition: String,
    pub is_day: bool,
    pub recorded_at: DateTime<Utc>,
}

impl Record {
    pub fn icon(&self) -> &'static str {
        crate::weather::icon(
            u16::try_from(self.weather_code).unwrap_or(u16::MAX),
            self.is_day,
        )
    }
}

/// Every record, newest first.
pub async fn list(pool: &Pool) -> anyhow::Result<Vec<Record>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT record_id, city, region, country, latitude, longitude, timezone, local_time, \
                 temperature_c, weather_code, condition, is_day, recorded_at \
             FROM records ORDER BY recorded_at DESC, record_id DESC",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Record {
            record_id: row.get(0),
            city: row.get(1),
            region: row.get(2),
            country: row.get(3),
            latitude: row.get(4),
            longitude: row.get(5),
            timezone: row.get(6),
            local_time: row.get(7),
            temperature_c: row.get(8),
            weather_code: row.get(9),
            condition: row.get(10),
            is_day: row.get(11),
            recorded_at: row.get(12),
        })
        .collect())
}

/// Whether the record is stored (and not deleted).
pub async fn exists(pool: &Pool, record_id: Uuid) -> anyhow::Result<bool> {
    let client = pool.get().await?;
    let row = client
        .query_opt("SELECT 1 FROM records WHERE record_id = $1", &[&record_id])
        .await?;
    Ok(row.is_some())
}

/// Whether the record was deleted.
pub async fn was_deleted(pool: &Pool, record_id: Uuid) -> anyhow::Result<bool> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT 1 FROM deleted_records WHERE record_id = $1",
            &[&record_id],
        )
        .await?;
    Ok(row.is_some())
}
