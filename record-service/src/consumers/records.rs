//! Projects record events into PostgreSQL: a batch is one transaction that claims its message
//! ids, inserts new records and deletes deleted ones. A record is stored once whatever number
//! of times its event arrives, and a deletion wins even when it arrives before the record.

use deadpool_postgres::Pool;
use tokio_postgres::Transaction;
use uuid::Uuid;
use warren_messages::consumer::apply_valid;
use warren_messages::events::records::{RecordDeleted, WeatherRecorded};
use warren_messages::{Handler, Outcome, exactly_once, one_of};

one_of! {
    /// What arrives on record-service's queue.
    pub enum Incoming {
        Recorded(WeatherRecorded),
        Deleted(RecordDeleted),
    }
}

impl Incoming {
    fn message_id(&self) -> Uuid {
        match self {
            Self::Recorded(event) => event.message_id,
            Self::Deleted(event) => event.message_id,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            Self::Recorded(event) => event.payload.observation.validate(),
            Self::Deleted(_) => Ok(()),
        }
    }
}

/// The name under which this projection claims message ids.
const CONSUMER: &str = "record-service";

pub struct RecordProjection {
    pool: Pool,
}

impl RecordProjection {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn apply(&self, batch: &[&Incoming]) -> anyhow::Result<()> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let ids: Vec<Uuid> = batch.iter().map(|message| message.message_id()).collect();
        let claimed = exactly_once::claim(&transaction, CONSUMER, &ids).await?;
        for message in batch {
            if claimed.contains(&message.message_id()) {
                apply(&transaction, message).await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

async fn apply(transaction: &Transaction<'_>, message: &Incoming) -> anyhow::Result<()> {
    match message {
        Incoming::Recorded(event) => {
            let record = &event.payload;
            let seen = &record.observation;
            transaction
                .execute(
                    "INSERT INTO records (record_id, city, region, country, latitude, longitude, \
                         timezone, local_time, observed_at, temperature_c, weather_code, \
                         condition, is_day, recorded_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
                     WHERE NOT EXISTS (SELECT 1 FROM deleted_records WHERE record_id = $1) \
                     ON CONFLICT (record_id) DO NOTHING",
                    &[
                        &record.record_id,
                        &seen.city,
                        &seen.region,
                        &seen.country,
                        &seen.latitude,
                        &seen.longitude,
                        &seen.timezone,
                        &seen.local_time,
                        &seen.observed_at,
                        &seen.temperature_c,
                        &i32::from(seen.weather_code),
                        &seen.condition,
                        &seen.is_day,
                        &event.occurred_at,
                    ],
                )
                .await?;
        }
        Incoming::Deleted(event) => {
            let record_id = event.payload.record_id;
            transaction
                .execute(
                    "INSERT INTO deleted_records (record_id, deleted_at) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &[&record_id, &event.occurred_at],
                )
                .await?;
            transaction
                .execute("DELETE FROM records WHERE record_id = $1", &[&record_id])
                .await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Handler<Incoming> for RecordProjection {
    #[tracing::instrument(skip_all, fields(batch = batch.len()))]
    async fn handle(&self, batch: &[Incoming]) -> Vec<Outcome> {
        apply_valid(batch, Incoming::validate, |valid| async move {
            self.apply(&valid).await
        })
        .await
    }
}
