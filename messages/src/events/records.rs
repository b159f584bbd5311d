//! Weather records: a user recorded the weather shown for a place, or deleted a record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::topology::{self, Exchange};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherRecorded {
    pub record_id: Uuid,
    pub city: String,
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    pub temperature_c: f64,
    pub weather_code: u16,
    pub condition: String,
    pub observed_at: DateTime<Utc>,
}

impl Event for WeatherRecorded {
    const TYPE: &'static str = "record.recorded";
    const SCHEMA_VERSION: u16 = 1;
    const EXCHANGE: Exchange = topology::RECORDS;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDeleted {
    pub record_id: Uuid,
}

impl Event for RecordDeleted {
    const TYPE: &'static str = "record.deleted";
    const SCHEMA_VERSION: u16 = 1;
    const EXCHANGE: Exchange = topology::RECORDS;
}
