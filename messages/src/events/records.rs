//! Weather records: a user recorded the weather shown for a place, or deleted a record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The weather at a place as the recorder showed it, field for field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub city: String,
    /// The region (state, province), when the provider names one.
    #[serde(default)]
    pub region: Option<String>,
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    /// IANA time zone of the place.
    pub timezone: String,
    /// The place's local time of the observation, as shown (`YYYY-MM-DDTHH:MM`).
    pub local_time: String,
    /// The same instant in UTC.
    pub observed_at: DateTime<Utc>,
    pub temperature_c: f64,
    /// WMO weather interpretation code.
    pub weather_code: u16,
    pub condition: String,
    pub is_day: bool,
}

impl Observation {
    /// Whether every field holds a usable value: what the recorder refuses to publish otherwise.
    pub fn validate(&self) -> Result<(), String> {
        let text = [
            ("city", self.city.as_str()),
            ("country", self.country.as_str()),
            ("timezone", self.timezone.as_str()),
            ("local time", self.local_time.as_str()),
            ("condition", self.condition.as_str()),
        ];
        for (field, value) in text {
            if value.trim().is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
                return Err(format!("the observation's {field} is missing or invalid"));
            }
        }
        if !(-90.0..=90.0).contains(&self.latitude) || !(-180.0..=180.0).contains(&self.longitude) {
            return Err("the observation's coordinates are out of range".into());
        }
        if !self.temperature_c.is_finite() || !(-100.0..=100.0).contains(&self.temperature_c) {
            return Err("the observation's temperature is out of range".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherRecorded {
    pub record_id: Uuid,
    pub observation: Observation,
}

event!(WeatherRecorded, "record.recorded", RECORDS);

/// An operator deleted a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDeleted {
    pub record_id: Uuid,
    /// The signed-in operator who deleted it; None in events from before accounts.
    #[serde(default)]
    pub actor: Option<String>,
}

event!(RecordDeleted, "record.deleted", RECORDS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_from_before_accounts_reads_without_an_actor() {
        let record_id = Uuid::now_v7();
        let old: RecordDeleted =
            serde_json::from_value(serde_json::json!({ "record_id": record_id }))
                .expect("an old deletion reads");
        assert_eq!(
            old,
            RecordDeleted {
                record_id,
                actor: None
            }
        );
        let new = RecordDeleted {
            record_id,
            actor: Some("ada".into()),
        };
        let json = serde_json::to_value(&new).expect("a deletion serialises");
        assert_eq!(json["actor"], "ada");
    }
}
