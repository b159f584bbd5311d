//! Projects record events into PostgreSQL: a batch is one transaction that claims its message
//! ids, inserts new records and deletes deleted ones. A record is stored once whatever number
//! of times its event arrives, and a deletion wins even when it arrives before the record, also
//! when another instance applies the record at the same moment.
//!
//! Under READ COMMITTED a deletion's tombstone and a concurrent insert of the same record do not
//! see each other: the insert's `NOT EXISTS` reads before the tombstone commits, the `DELETE`
//! before the insert commits, and the record comes back. So each transaction first takes a
//! transaction-scoped advisory lock per record id of its batch, all of them in one order (by
//! key), before anything else: the two events of one record then apply one after the other, and
//! the second one's statements see the first one's commit. Taking every lock first, in one
//! order, means no transaction waits while holding a row another one needs, so they cannot
//! deadlock.

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

    fn record_id(&self) -> Uuid {
        match self {
            Self::Recorded(event) => event.payload.record_id,
            Self::Deleted(event) => event.payload.record_id,
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
        lock_records(
            &transaction,
            batch.iter().map(|message| message.record_id()),
        )
        .await?;
        exactly_once::apply_batch(transaction, CONSUMER, batch, Incoming::message_id, apply).await
    }
}

/// Takes the advisory lock of each record, in key order, until the transaction ends. The key
/// is the record id folded to 64 bits; two records that share a key only wait for each other.
/// Nothing else takes advisory locks in record-service's database.
async fn lock_records(
    transaction: &Transaction<'_>,
    records: impl Iterator<Item = Uuid>,
) -> Result<(), tokio_postgres::Error> {
    let mut keys: Vec<i64> = records.map(lock_key).collect();
    keys.sort_unstable();
    keys.dedup();
    // The volatile lock function is evaluated row by row after the sort, so in this order.
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(key) \
             FROM unnest($1::bigint[]) WITH ORDINALITY AS keys (key, position) \
             ORDER BY position",
            &[&keys],
        )
        .await?;
    Ok(())
}

fn lock_key(record_id: Uuid) -> i64 {
    let (high, low) = record_id.as_u64_pair();
    i64::from_ne_bytes((high ^ low).to_ne_bytes())
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
            // The first deletion stands, with who made it.
            transaction
                .execute(
                    "INSERT INTO deleted_records (record_id, deleted_at, deleted_by) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&record_id, &event.occurred_at, &event.payload.actor],
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
