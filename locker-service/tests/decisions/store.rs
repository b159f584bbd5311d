//! A model of locker-service's MongoDB collections, answering each `Ask` as `operations` does
//! (the conditional take and retirement, the unique index on `holder`, the unique `_id`), and
//! one delivery of
//! a request as `LockerDesk` handles it: the stored outcome if there is one, else a decision
//! made through `domain::decide`, stored, with the lockers settled before it is published.

use std::collections::{BTreeMap, HashMap};

use locker_service::domain::{
    self, Ask, Decision, Holding, LockerCode, Next, OutcomeEvent, Reply, Request, Settle, Standing,
    Stored, TakeId, UserName,
};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locker {
    pub added_by: Uuid,
    pub holder: Option<UserName>,
    pub assigned_by: Option<Uuid>,
    pub take: Option<TakeId>,
    pub released_by: Option<Uuid>,
    pub retired_by: Option<Uuid>,
}

/// A decided request: what `settle` reads, and the event published for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub outcome: Stored,
    pub event: Option<OutcomeEvent>,
}

/// A delivery under way.
pub struct Decider {
    pub request: Request,
    looked: bool,
    replies: Vec<Reply>,
}

impl Decider {
    pub fn new(request: Request) -> Self {
        Self {
            request,
            looked: false,
            replies: Vec::new(),
        }
    }
}

/// What one delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The decision made now, if the request had none stored.
    pub decided: Option<Decision>,
    /// What was published; None for an add, and when the delivery crashed.
    pub published: Option<OutcomeEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    pub lockers: BTreeMap<LockerCode, Locker>,
    pub requests: HashMap<Uuid, Decided>,
    /// Takes so far, for fresh take ids.
    pub takes: u64,
}

impl Store {
    pub fn held_by(&self, user: &UserName) -> Option<(&LockerCode, &Locker)> {
        self.lockers
            .iter()
            .find(|(_, locker)| locker.holder.as_ref() == Some(user))
    }

    /// One delivery of `request`; with `crash`, the instance dies after the store operations,
    /// before the decision is stored (so nothing is published).
    pub fn deliver(&mut self, request: &Request, crash: bool) -> Delivery {
        let mut delivery = Decider::new(request.clone());
        loop {
            if let Some(done) = self.advance(&mut delivery, crash) {
                return done;
            }
        }
    }

    /// Takes the next step of a delivery, as `LockerDesk` does: look for a stored outcome, run
    /// one store operation, or store the decision (the first one stored stands), settle the
    /// lockers and publish. Returns what the delivery did once it is over.
    pub fn advance(&mut self, delivery: &mut Decider, crash: bool) -> Option<Delivery> {
        let id = delivery.request.id;
        if !delivery.looked {
            delivery.looked = true;
            if self.requests.contains_key(&id) {
                let published = self.settle_and_publish(id);
                return Some(Delivery {
                    decided: None,
                    published,
                });
            }
            return None;
        }
        let next = domain::decide(&delivery.request, &delivery.replies);
        match next.expect("the model answers every ask") {
            Next::Ask(ask) => {
                let reply = self.run(id, &ask);
                delivery.replies.push(reply);
                None
            }
            Next::Decided(decision) if crash => Some(Delivery {
                decided: Some(decision),
                published: None,
            }),
            Next::Decided(decision) => {
                self.requests.entry(id).or_insert_with(|| Decided {
                    outcome: Stored::from(&decision),
                    event: decision.event.clone(),
                });
                Some(Delivery {
                    decided: Some(decision),
                    published: self.settle_and_publish(id),
                })
            }
        }
    }

    fn settle_and_publish(&mut self, id: Uuid) -> Option<OutcomeEvent> {
        let decided = self.requests[&id].clone();
        if let Some(settle) = domain::settle(&decided.outcome) {
            self.settle(id, &settle);
        }
        decided.event
    }

    /// `ask` for the request `id`, as `operations::run` does it in MongoDB.
    pub fn run(&mut self, id: Uuid, ask: &Ask) -> Reply {
        match ask {
            Ask::Insert { code, .. } => match self.lockers.get(code) {
                Some(locker) => Reply::Exists {
                    added_by: Some(locker.added_by),
                    retired: locker.retired_by.is_some(),
                },
                None => {
                    let locker = Locker {
                        added_by: id,
                        holder: None,
                        assigned_by: None,
                        take: None,
                        released_by: None,
                        retired_by: None,
                    };
                    self.lockers.insert(code.clone(), locker);
                    Reply::Inserted
                }
            },
            Ask::Held { user } => Reply::Holds(
                self.held_by(user)
                    .map(|(code, locker)| holding(code, locker)),
            ),
            Ask::TakeFree { user } => {
                // The unique index on `holder` refuses a second locker.
                if self.held_by(user).is_some() {
                    return Reply::Took(None);
                }
                self.takes += 1;
                let take = TakeId::new(format!("take-{}", self.takes));
                let free = self
                    .lockers
                    .iter_mut()
                    .find(|(_, locker)| locker.holder.is_none() && locker.retired_by.is_none());
                Reply::Took(free.map(|(code, locker)| {
                    locker.holder = Some(user.clone());
                    locker.assigned_by = Some(id);
                    locker.take = Some(take);
                    holding(code, locker)
                }))
            }
            Ask::ReleasedBy => Reply::ReleasedBy(
                self.lockers
                    .iter()
                    .find(|(_, locker)| locker.released_by == Some(id))
                    .map(|(code, _)| code.clone()),
            ),
            Ask::Free { user } => Reply::Freed(
                self.lockers
                    .iter_mut()
                    .find(|(_, locker)| locker.holder.as_ref() == Some(user))
                    .map(|(code, locker)| {
                        locker.holder = None;
                        locker.assigned_by = None;
                        locker.take = None;
                        locker.released_by = Some(id);
                        code.clone()
                    }),
            ),
            Ask::Retire { code } => Reply::Retired(match self.lockers.get_mut(code) {
                Some(locker) if locker.holder.is_none() && locker.retired_by.is_none() => {
                    locker.retired_by = Some(id);
                    true
                }
                _ => false,
            }),
            Ask::Look { code } => Reply::Found(self.lockers.get(code).map(|locker| {
                match (locker.retired_by, &locker.holder) {
                    (Some(by), _) => Standing::Retired { by: Some(by) },
                    (None, Some(holder)) => Standing::Held {
                        holder: holder.clone(),
                    },
                    (None, None) => Standing::Free,
                }
            })),
        }
    }

    /// As `operations::settle`: frees every locker assigned by `id` but the one kept, or returns
    /// every locker retired by `id` to service.
    pub fn settle(&mut self, id: Uuid, settle: &Settle) {
        let keep = match settle {
            Settle::Assignments { keep } => keep,
            Settle::Retirements => {
                for locker in self.lockers.values_mut() {
                    if locker.retired_by == Some(id) {
                        locker.retired_by = None;
                    }
                }
                return;
            }
        };
        for (code, locker) in &mut self.lockers {
            let kept = match keep {
                Some((kept, Some(take))) => kept == code && locker.take.as_ref() == Some(take),
                Some((kept, None)) => kept == code,
                None => false,
            };
            if locker.assigned_by == Some(id) && !kept {
                locker.holder = None;
                locker.assigned_by = None;
                locker.take = None;
            }
        }
    }
}

fn holding(code: &LockerCode, locker: &Locker) -> Holding {
    Holding {
        code: code.clone(),
        assigned_by: locker.assigned_by,
        take: locker.take.clone(),
    }
}
