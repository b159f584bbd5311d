//! locker-service's consumer: adds lockers, allocates them and frees them.
//!
//! Allocation is one atomic conditional update (a free locker becomes held by this user and this
//! request), so two requests can never get the same locker; the unique index on `holder` keeps a
//! user at one locker even against concurrent requests. Every request is idempotent by its id:
//! its outcome is stored under that id before it is published, a redelivery republishes the
//! stored event, and a crash between the update and the store is recognised by the request id
//! left on the locker (`assigned_by`, `released_by`).
//!
//! With several instances, a request (redelivered, or published twice) can reach two of them at
//! once. Each instance first claims the request id (`claims`), so exactly one decides it; the
//! other retries until the decision is stored and then publishes that very event. `claims`
//! explains why a claim left by a crashed instance may be taken over.

use std::time::Duration;

use mongodb::Database;
use mongodb::bson::{self, doc};
use mongodb::options::ReturnDocument;
use warren_messages::events::lockers::{
    LockerAddRequested, LockerAssigned, LockerReleaseRequested, LockerReleased, LockerRequested,
    LockerUnavailable, Unavailability, validate_code, validate_location,
};
use warren_messages::events::users::validate_name;
use warren_messages::sabotage::{self, Sabotage};
use warren_messages::{Envelope, Event, Handler, Outcome, Publisher, envelope, one_of};

use crate::claims;
use crate::startup::SERVICE;
use crate::store::{self, Locker, Request, is_duplicate_key};

one_of! {
    /// What arrives on locker-service's queue.
    pub enum Incoming {
        Add(LockerAddRequested),
        Request(LockerRequested),
        Release(LockerReleaseRequested),
    }
}

impl Incoming {
    fn validate(&self) -> Result<(), String> {
        match self {
            Self::Add(event) => {
                validate_code(&event.payload.code)?;
                validate_location(&event.payload.location)
            }
            Self::Request(event) => validate_name(&event.payload.user),
            Self::Release(event) => validate_name(&event.payload.user),
        }
    }
}

pub struct LockerDesk {
    database: Database,
    publisher: Publisher,
    /// This instance, as it signs its claims.
    owner: String,
    lease: Duration,
}

#[async_trait::async_trait]
impl Handler<Incoming> for LockerDesk {
    #[tracing::instrument(skip_all, fields(batch = batch.len()))]
    async fn handle(&self, batch: &[Incoming]) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut failed: Option<String> = None;
        for message in batch {
            if let Err(reason) = message.validate() {
                outcomes.push(Outcome::Poison(reason));
                continue;
            }
            // After a failure the rest of the batch waits too, so that one user's requests
            // keep their order.
            if let Some(error) = &failed {
                outcomes.push(Outcome::RetryLater(error.clone()));
                continue;
            }
            match self.apply(message).await {
                Ok(()) => outcomes.push(Outcome::Done),
                Err(error) => {
                    let elsewhere = error.is::<claims::DecidedElsewhere>();
                    let error = format!("{error:#}");
                    if elsewhere {
                        tracing::debug!(%error, "a locker request is being decided; will retry");
                    } else {
                        tracing::warn!(%error, "cannot apply a locker request; will retry");
                    }
                    outcomes.push(Outcome::RetryLater(error.clone()));
                    failed = Some(error);
                }
            }
        }
        outcomes
    }
}

/// What became of a request, before it is stored.
struct Decision {
    kind: &'static str,
    outcome: &'static str,
    locker: Option<String>,
    user: Option<String>,
    /// The outcome event, serialised.
    event: Option<String>,
}

impl LockerDesk {
    pub fn new(database: Database, publisher: Publisher) -> Self {
        Self {
            database,
            publisher,
            owner: claims::new_owner(),
            lease: claims::LEASE,
        }
    }

    /// How old another instance's claim must be before this one takes it over (tests shorten
    /// it to play a crash).
    pub fn with_claim_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    async fn apply(&self, message: &Incoming) -> anyhow::Result<()> {
        let request_id = match message {
            Incoming::Add(event) => event.payload.request_id,
            Incoming::Request(event) => event.payload.request_id,
            Incoming::Release(event) => event.payload.request_id,
        }
        .to_string();
        let stored = match store::request(&self.database, &request_id).await? {
            Some(stored) => stored,
            None => self.decide(request_id, message).await?,
        };
        self.settle(&stored).await?;
        self.publish(&stored).await
    }

    /// Decides the request and stores the decision, as the one instance that holds its claim.
    async fn decide(&self, request_id: String, message: &Incoming) -> anyhow::Result<Request> {
        if !claims::claim(&self.database, &request_id, &self.owner, self.lease).await? {
            return store::request(&self.database, &request_id)
                .await?
                .ok_or_else(|| claims::DecidedElsewhere.into());
        }
        // The previous holder of the claim may have stored its decision and let the claim go
        // after this delivery first looked.
        if let Some(stored) = store::request(&self.database, &request_id).await? {
            return Ok(stored);
        }
        let decision = match message {
            Incoming::Add(event) => self.add(&request_id, &event.payload).await?,
            Incoming::Request(event) => self.allocate(&request_id, event).await?,
            Incoming::Release(event) => self.release(&request_id, event).await?,
        };
        let stored = self.store(request_id.clone(), decision).await?;
        // A claim left behind only delays a takeover; the decision is stored either way.
        if let Err(error) = claims::release(&self.database, &request_id, &self.owner).await {
            tracing::warn!(error = %format!("{error:#}"), "cannot release a claim");
        }
        Ok(stored)
    }

    /// Makes the lockers agree with the stored outcome: a request that did not get a locker
    /// holds none. Only a decider that lost the race to store (after a claim was taken over from
    /// it) can have taken one; the first delivery of the request to pass here frees it.
    async fn settle(&self, stored: &Request) -> anyhow::Result<()> {
        if stored.kind != "request" || stored.outcome == "assigned" {
            return Ok(());
        }
        let freed = store::lockers(&self.database)
            .update_many(
                doc! { "assigned_by": &stored.request_id },
                doc! { "$unset": { "holder": "", "assigned_by": "", "held_since": "" } },
            )
            .await?;
        if freed.modified_count > 0 {
            tracing::warn!(
                request_id = %stored.request_id,
                outcome = %stored.outcome,
                "freed a locker taken by a request whose stored outcome is another"
            );
        }
        Ok(())
    }

    async fn add(&self, request_id: &str, add: &LockerAddRequested) -> anyhow::Result<Decision> {
        let locker = Locker {
            code: add.code.clone(),
            location: add.location.clone(),
            added_at: bson::DateTime::now(),
            added_by: request_id.to_owned(),
            holder: None,
            assigned_by: None,
            held_since: None,
            released_by: None,
        };
        let outcome = match store::lockers(&self.database).insert_one(&locker).await {
            Ok(_) => "added",
            Err(error) if is_duplicate_key(&error) => {
                let existing = store::lockers(&self.database)
                    .find_one(doc! { "_id": &add.code })
                    .await?;
                if existing.is_some_and(|locker| locker.added_by == request_id) {
                    "added"
                } else {
                    "code-taken"
                }
            }
            Err(error) => return Err(error.into()),
        };
        Ok(Decision {
            kind: "add",
            outcome,
            locker: Some(add.code.clone()),
            user: None,
            event: None,
        })
    }

    async fn held_by(&self, user: &str) -> anyhow::Result<Option<Locker>> {
        Ok(store::lockers(&self.database)
            .find_one(doc! { "holder": user })
            .await?)
    }

    async fn allocate(
        &self,
        request_id: &str,
        event: &Envelope<LockerRequested>,
    ) -> anyhow::Result<Decision> {
        let user = &event.payload.user;
        let mut held = self.held_by(user).await?;
        if held.is_none() {
            // The self-test's `skip-holder-check` takes any locker, held or not (never in a
            // build without the `sabotage` feature).
            let free = if sabotage::active(Sabotage::SkipHolderCheck) {
                doc! {}
            } else {
                doc! { "holder": { "$exists": false } }
            };
            let taken = store::lockers(&self.database)
                .find_one_and_update(
                    free,
                    doc! { "$set": {
                        "holder": user,
                        "assigned_by": request_id,
                        "held_since": bson::DateTime::now(),
                    } },
                )
                .sort(doc! { "_id": 1 })
                .return_document(ReturnDocument::After)
                .await;
            held = match taken {
                Ok(Some(locker)) => Some(locker),
                // None free, or the same user got a locker concurrently (the index refused a
                // second one): perhaps by this very request, decided elsewhere as well.
                Ok(None) => self.held_by(user).await?,
                Err(error) if is_duplicate_key(&error) => self.held_by(user).await?,
                Err(error) => return Err(error.into()),
            };
            if held.is_none() {
                return outcome(
                    "request",
                    "none-free",
                    None,
                    user,
                    LockerUnavailable {
                        request_id: event.payload.request_id,
                        user: user.clone(),
                        reason: Unavailability::NoneFree,
                        held: None,
                    },
                    event,
                );
            }
        }
        let locker = held.expect("a locker is held at this point");
        // Held because of this very request (also after a crash before its outcome was stored).
        if locker.assigned_by.as_deref() == Some(request_id) {
            return outcome(
                "request",
                "assigned",
                Some(locker.code.clone()),
                user,
                LockerAssigned {
                    request_id: event.payload.request_id,
                    user: user.clone(),
                    code: locker.code,
                },
                event,
            );
        }
        outcome(
            "request",
            "already-holds",
            Some(locker.code.clone()),
            user,
            LockerUnavailable {
                request_id: event.payload.request_id,
                user: user.clone(),
                reason: Unavailability::AlreadyHolds,
                held: Some(locker.code),
            },
            event,
        )
    }

    async fn release(
        &self,
        request_id: &str,
        event: &Envelope<LockerReleaseRequested>,
    ) -> anyhow::Result<Decision> {
        let user = &event.payload.user;
        let lockers = store::lockers(&self.database);
        // Freed by this very request before a crash, or now, or (when a claim was taken over)
        // by this request's other decider in the meantime.
        let freed = match lockers.find_one(doc! { "released_by": request_id }).await? {
            Some(locker) => Some(locker),
            None => match lockers
                .find_one_and_update(
                    doc! { "holder": user },
                    doc! {
                        "$unset": { "holder": "", "assigned_by": "", "held_since": "" },
                        "$set": { "released_by": request_id },
                    },
                )
                .await?
            {
                Some(locker) => Some(locker),
                None => lockers.find_one(doc! { "released_by": request_id }).await?,
            },
        };
        let code = freed.map(|locker| locker.code);
        outcome(
            "release",
            if code.is_some() {
                "released"
            } else {
                "holds-none"
            },
            code.clone(),
            user,
            LockerReleased {
                request_id: event.payload.request_id,
                user: user.clone(),
                code,
            },
            event,
        )
    }

    /// Stores the decision under the request id; if another delivery stored one first, that one
    /// stands.
    async fn store(&self, request_id: String, decision: Decision) -> anyhow::Result<Request> {
        let request = Request {
            request_id: request_id.clone(),
            kind: decision.kind.to_owned(),
            outcome: decision.outcome.to_owned(),
            locker: decision.locker,
            user: decision.user,
            event: decision.event,
            decided_at: bson::DateTime::now(),
        };
        match store::requests(&self.database).insert_one(&request).await {
            Ok(_) => Ok(request),
            Err(error) if is_duplicate_key(&error) => store::request(&self.database, &request_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("request {request_id} vanished")),
            Err(error) => Err(error.into()),
        }
    }

    /// Publishes the stored outcome event, if the request has one.
    async fn publish(&self, request: &Request) -> anyhow::Result<()> {
        let Some(body) = &request.event else {
            return Ok(());
        };
        let body = body.as_bytes();
        match envelope::event_type(body)?.as_str() {
            LockerAssigned::TYPE => {
                self.publisher
                    .publish(&envelope::decode::<LockerAssigned>(body)?)
                    .await?
            }
            LockerUnavailable::TYPE => {
                self.publisher
                    .publish(&envelope::decode::<LockerUnavailable>(body)?)
                    .await?
            }
            LockerReleased::TYPE => {
                self.publisher
                    .publish(&envelope::decode::<LockerReleased>(body)?)
                    .await?
            }
            other => anyhow::bail!("a stored outcome has an unknown event type {other:?}"),
        }
        Ok(())
    }
}

fn outcome<E: Event, C>(
    kind: &'static str,
    outcome: &'static str,
    locker: Option<String>,
    user: &str,
    payload: E,
    cause: &Envelope<C>,
) -> anyhow::Result<Decision> {
    let envelope = Envelope::caused_by(SERVICE, payload, cause);
    Ok(Decision {
        kind,
        outcome,
        locker,
        user: Some(user.to_owned()),
        event: Some(serde_json::to_string(&envelope)?),
    })
}
