//! The shell around `domain::decide`: each [`Ask`] as one atomic MongoDB operation, and the
//! settling of the lockers with a stored outcome. The guarantees are MongoDB's: a locker is
//! taken by one conditional `findOneAndUpdate` from no holder to this user, the unique index on
//! `holder` refuses a user a second locker, and the unique `_id` a second locker with one code;
//! a locker is retired by one conditional `findOneAndUpdate` from no holder and not retired,
//! and the take's condition excludes retired lockers, so of a take and a retirement racing for
//! one locker exactly one wins. Nothing here decides; it reports what the store did.

use mongodb::Database;
use mongodb::bson::{self, doc};
use mongodb::options::ReturnDocument;
use uuid::Uuid;
use warren_messages::sabotage::{self, Sabotage};

use crate::domain::{Ask, Holding, LockerCode, Reply, Settle, Standing, TakeId, UserName};
use crate::store::{self, Locker, is_duplicate_key};

/// Runs `ask` for the request `request_id` and says what the store did.
pub async fn run(database: &Database, request_id: Uuid, ask: &Ask) -> anyhow::Result<Reply> {
    let lockers = store::lockers(database);
    let id = request_id.to_string();
    Ok(match ask {
        Ask::Insert { code, location } => {
            let locker = Locker {
                code: code.to_string(),
                location: location.to_string(),
                added_at: bson::DateTime::now(),
                added_by: id,
                holder: None,
                assigned_by: None,
                held_since: None,
                take_id: None,
                released_by: None,
                retired_by: None,
                retired_at: None,
            };
            match lockers.insert_one(&locker).await {
                Ok(_) => Reply::Inserted,
                Err(error) if is_duplicate_key(&error) => {
                    let existing = lockers.find_one(doc! { "_id": code.as_str() }).await?;
                    Reply::Exists {
                        added_by: existing
                            .as_ref()
                            .and_then(|locker| request_of(&locker.added_by)),
                        retired: existing.is_some_and(|locker| locker.retired()),
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ask::Held { user } => Reply::Holds(
            lockers
                .find_one(doc! { "holder": user.as_str() })
                .await?
                .map(holding)
                .transpose()?,
        ),
        Ask::TakeFree { user } => {
            // The self-test's `skip-holder-check` takes any locker, held or not (never in a
            // build without the `sabotage` feature).
            let free = if sabotage::active(Sabotage::SkipHolderCheck) {
                doc! {}
            } else {
                doc! { "holder": { "$exists": false }, "retired_by": { "$exists": false } }
            };
            let taken = lockers
                .find_one_and_update(
                    free,
                    doc! { "$set": {
                        "holder": user.as_str(),
                        "assigned_by": &id,
                        "held_since": bson::DateTime::now(),
                        "take_id": bson::oid::ObjectId::new().to_hex(),
                    } },
                )
                .sort(doc! { "_id": 1 })
                .return_document(ReturnDocument::After)
                .await;
            match taken {
                Ok(locker) => Reply::Took(locker.map(holding).transpose()?),
                // The user holds a locker already: the index refused a second one.
                Err(error) if is_duplicate_key(&error) => Reply::Took(None),
                Err(error) => return Err(error.into()),
            }
        }
        Ask::ReleasedBy => Reply::ReleasedBy(
            lockers
                .find_one(doc! { "released_by": &id })
                .await?
                .map(|locker| code(&locker))
                .transpose()?,
        ),
        Ask::Free { user } => Reply::Freed(
            lockers
                .find_one_and_update(
                    doc! { "holder": user.as_str() },
                    doc! {
                        "$unset": freed(),
                        "$set": { "released_by": &id },
                    },
                )
                .await?
                .map(|locker| code(&locker))
                .transpose()?,
        ),
        Ask::Retire { code } => Reply::Retired(
            lockers
                .find_one_and_update(
                    doc! {
                        "_id": code.as_str(),
                        "holder": { "$exists": false },
                        "retired_by": { "$exists": false },
                    },
                    doc! { "$set": { "retired_by": &id, "retired_at": bson::DateTime::now() } },
                )
                .await?
                .is_some(),
        ),
        Ask::Look { code } => Reply::Found(
            lockers
                .find_one(doc! { "_id": code.as_str() })
                .await?
                .map(|locker| standing(&locker))
                .transpose()?,
        ),
    })
}

/// Settles the lockers with a request's stored outcome: frees every locker assigned by
/// `request_id` but the one kept, or returns to service every locker it retired. Says how many
/// lockers it changed.
pub async fn settle(database: &Database, request_id: &str, settle: &Settle) -> anyhow::Result<u64> {
    let keep = match settle {
        Settle::Assignments { keep } => keep,
        Settle::Retirements => {
            let restored = store::lockers(database)
                .update_many(
                    doc! { "retired_by": request_id },
                    doc! { "$unset": { "retired_by": "", "retired_at": "" } },
                )
                .await?;
            return Ok(restored.modified_count);
        }
    };
    let mut filter = doc! { "assigned_by": request_id };
    match keep {
        None => {}
        Some((code, Some(take))) => {
            let kept = doc! { "_id": code.as_str(), "take_id": take.as_str() };
            filter.insert("$nor", vec![kept]);
        }
        // Kept by its code alone: the outcome was stored before takes had ids.
        Some((code, None)) => {
            filter.insert("_id", doc! { "$ne": code.as_str() });
        }
    }
    let freed = store::lockers(database)
        .update_many(filter, doc! { "$unset": freed() })
        .await?;
    Ok(freed.modified_count)
}

/// The fields a locker loses when it is freed (for `$unset`).
fn freed() -> bson::Document {
    doc! { "holder": "", "assigned_by": "", "held_since": "", "take_id": "" }
}

fn code(locker: &Locker) -> anyhow::Result<LockerCode> {
    LockerCode::parse(locker.code.as_str()).map_err(anyhow::Error::msg)
}

fn standing(locker: &Locker) -> anyhow::Result<Standing> {
    Ok(match (&locker.retired_by, &locker.holder) {
        (Some(by), _) => Standing::Retired { by: request_of(by) },
        (None, Some(holder)) => Standing::Held {
            holder: UserName::parse(holder.as_str()).map_err(anyhow::Error::msg)?,
        },
        (None, None) => Standing::Free,
    })
}

fn holding(locker: Locker) -> anyhow::Result<Holding> {
    Ok(Holding {
        code: code(&locker)?,
        assigned_by: locker.assigned_by.as_deref().and_then(request_of),
        take: locker.take_id.map(TakeId::new),
    })
}

/// The request a stored id names; None for anything not written as a request id.
fn request_of(stored: &str) -> Option<Uuid> {
    Uuid::parse_str(stored).ok()
}
