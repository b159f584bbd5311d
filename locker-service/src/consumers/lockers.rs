//! locker-service's consumer: adds lockers, allocates them, frees them and retires them, as a
//! thin shell around `domain::decide`, which says which atomic store operation comes next and
//! what the decision is; `operations` runs each operation as one MongoDB call. Adds and
//! retirements publish nothing: locker-app reads their stored outcomes, with who asked.
//!
//! Allocation is one atomic conditional update (a free locker becomes held by this user and this
//! request), so two requests can never get the same locker; the unique index on `holder` keeps a
//! user at one locker even against concurrent requests. Every request is idempotent by its id:
//! its outcome is stored under that id before it is published, a redelivery republishes the
//! stored event, and a crash between the update and the store is recognised by the request id
//! left on the locker (`assigned_by`, `released_by`, `retired_by`).
//!
//! With several instances, a request (redelivered, or published twice) can reach two of them at
//! once. Each instance first claims the request id (`claims`), so exactly one decides it; the
//! other retries until the decision is stored and then publishes that very event. `claims`
//! explains why a claim left by a crashed instance may be taken over.

use std::time::Duration;

use mongodb::Database;
use mongodb::bson;
use warren_messages::events::lockers::{
    LockerAddRequested, LockerAssigned, LockerReleaseRequested, LockerReleased, LockerRequested,
    LockerRetireRequested, LockerUnavailable,
};
use warren_messages::{Envelope, Event, Handler, Outcome, Publisher, envelope, one_of};

use crate::claims;
use crate::domain::{
    self, Answer, Command, Decision, Location, LockerCode, Next, OutcomeEvent, Request,
    RequestKind, TakeId, UserName,
};
use crate::operations;
use crate::startup::SERVICE;
use crate::store::{self, is_duplicate_key};

one_of! {
    /// What arrives on locker-service's queue.
    pub enum Incoming {
        Add(LockerAddRequested),
        Request(LockerRequested),
        Release(LockerReleaseRequested),
        Retire(LockerRetireRequested),
    }
}

impl Incoming {
    /// The request the message carries, its names and codes checked.
    fn request(&self) -> Result<Request, String> {
        Ok(match self {
            Self::Add(event) => Request {
                id: event.payload.request_id,
                command: Command::Add {
                    code: LockerCode::parse(event.payload.code.as_str())?,
                    location: Location::parse(event.payload.location.as_str())?,
                },
            },
            Self::Request(event) => Request {
                id: event.payload.request_id,
                command: Command::Request {
                    user: UserName::parse(event.payload.user.as_str())?,
                },
            },
            Self::Release(event) => Request {
                id: event.payload.request_id,
                command: Command::Release {
                    user: UserName::parse(event.payload.user.as_str())?,
                },
            },
            Self::Retire(event) => Request {
                id: event.payload.request_id,
                command: Command::Retire {
                    code: LockerCode::parse(event.payload.code.as_str())?,
                },
            },
        })
    }

    /// The signed-in account that asked, recorded with the outcome (adds and retirements come
    /// from locker-app; user-service's requests carry their user).
    fn actor(&self) -> Option<String> {
        match self {
            Self::Add(event) => event.payload.actor.clone(),
            Self::Retire(event) => event.payload.actor.clone(),
            Self::Request(_) | Self::Release(_) => None,
        }
    }

    /// The outcome event in an envelope caused by this message, serialised.
    fn answer_with<E: Event>(&self, payload: E) -> serde_json::Result<String> {
        match self {
            Self::Add(cause) => {
                serde_json::to_string(&Envelope::caused_by(SERVICE, payload, cause))
            }
            Self::Request(cause) => {
                serde_json::to_string(&Envelope::caused_by(SERVICE, payload, cause))
            }
            Self::Release(cause) => {
                serde_json::to_string(&Envelope::caused_by(SERVICE, payload, cause))
            }
            Self::Retire(cause) => {
                serde_json::to_string(&Envelope::caused_by(SERVICE, payload, cause))
            }
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
            let request = match message.request() {
                Ok(request) => request,
                Err(reason) => {
                    outcomes.push(Outcome::Poison(reason));
                    continue;
                }
            };
            // After a failure the rest of the batch waits too, so that one user's requests
            // keep their order.
            if let Some(error) = &failed {
                outcomes.push(Outcome::RetryLater(error.clone()));
                continue;
            }
            match self.apply(&request, message).await {
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

    async fn apply(&self, request: &Request, message: &Incoming) -> anyhow::Result<()> {
        let request_id = request.id.to_string();
        let stored = match store::request(&self.database, &request_id).await? {
            Some(stored) => stored,
            None => self.decide(request, message).await?,
        };
        self.settle(&stored).await?;
        self.publish(&stored).await
    }

    /// Decides the request and stores the decision, as the one instance that holds its claim.
    async fn decide(
        &self,
        request: &Request,
        message: &Incoming,
    ) -> anyhow::Result<store::Request> {
        let request_id = request.id.to_string();
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
        let decision = self.run(request).await?;
        let stored = self.store(request_id.clone(), decision, message).await?;
        // A claim left behind only delays a takeover; the decision is stored either way.
        if let Err(error) = claims::release(&self.database, &request_id, &self.owner).await {
            tracing::warn!(error = %format!("{error:#}"), "cannot release a claim");
        }
        Ok(stored)
    }

    /// Runs the store operations the decision asks for, one after the other, until it is made.
    async fn run(&self, request: &Request) -> anyhow::Result<Decision> {
        let mut replies = Vec::new();
        loop {
            match domain::decide(request, &replies)? {
                Next::Ask(ask) => {
                    replies.push(operations::run(&self.database, request.id, &ask).await?);
                }
                Next::Decided(decision) => return Ok(decision),
            }
        }
    }

    /// Makes the lockers agree with the stored outcome (`domain::settle`). Only a decider that
    /// lost the race to store (after a claim was taken over from it) can have taken or retired
    /// a locker the outcome does not name; the first delivery of the request to pass here frees
    /// it or returns it to service.
    async fn settle(&self, stored: &store::Request) -> anyhow::Result<()> {
        let outcome = domain::Stored {
            kind: RequestKind::parse(&stored.kind).map_err(anyhow::Error::msg)?,
            answer: Answer::parse(&stored.outcome).map_err(anyhow::Error::msg)?,
            locker: stored
                .locker
                .as_deref()
                .map(LockerCode::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            take: stored.take_id.clone().map(TakeId::new),
        };
        let Some(settle) = domain::settle(&outcome) else {
            return Ok(());
        };
        let freed = operations::settle(&self.database, &stored.request_id, &settle).await?;
        if freed > 0 {
            tracing::warn!(
                request_id = %stored.request_id,
                outcome = %stored.outcome,
                "undid a take or retirement by a request whose stored outcome is another"
            );
        }
        Ok(())
    }

    /// Stores the decision under the request id; if another delivery stored one first, that one
    /// stands.
    async fn store(
        &self,
        request_id: String,
        decision: Decision,
        message: &Incoming,
    ) -> anyhow::Result<store::Request> {
        let event = match decision.event {
            None => None,
            Some(OutcomeEvent::Assigned(payload)) => Some(message.answer_with(payload)?),
            Some(OutcomeEvent::Unavailable(payload)) => Some(message.answer_with(payload)?),
            Some(OutcomeEvent::Released(payload)) => Some(message.answer_with(payload)?),
        };
        let request = store::Request {
            request_id: request_id.clone(),
            kind: decision.kind.as_str().to_owned(),
            outcome: decision.answer.as_str().to_owned(),
            locker: decision.locker.map(String::from),
            take_id: decision.take.map(|take| take.as_str().to_owned()),
            user: decision.user.map(String::from),
            actor: message.actor(),
            event,
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
    async fn publish(&self, request: &store::Request) -> anyhow::Result<()> {
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
