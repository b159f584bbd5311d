//! Warren's broker topology as typed constants: exchanges, consumer queues with their retry and
//! dead-letter companions, broker users and what each may do.
//!
//! `rabbitmq/definitions.json` is generated from this module (`cargo xtask generate`) and a test
//! in xtask keeps the two equal, so the broker that scripts/up and docker-compose start has
//! exactly the topology the code expects.
//!
//! Every consumer queue `Q` is a quorum queue with a delivery limit. Around it:
//! - `warren.retry` (topic) routes key `Q` to `Q.retry`, whose messages expire after
//!   [`RETRY_DELAY_MS`] and are dead-lettered through `warren.requeue` (direct) back into `Q`:
//!   a delayed retry that does not count against `Q`'s delivery limit;
//! - `warren.dead` (topic) routes key `Q` to `Q.dead`: poison that a handler rejected with a
//!   reason, and messages that exceeded the delivery limit (at-least-once dead lettering).
//!
//! Consumer and dead-letter queues are bounded by policies ([`policies`], module `bounds`).

use serde_json::{Value, json};

mod bounds;

pub use bounds::{DEAD_LETTER_BOUND_POLICY, QUEUE_BOUND_POLICY, QueueBounds, policies};

use crate::envelope::Event;
use crate::events::lockers::{
    LockerAddRequested, LockerAssigned, LockerReleaseRequested, LockerReleased, LockerRequested,
    LockerRetireRequested, LockerUnavailable,
};
use crate::events::records::{RecordDeleted, WeatherRecorded};
use crate::events::users::{
    DeletionRequested, LockerWanted, PromotionRequested, RegistrationRequested, ReleaseWanted,
};
use crate::events::votes::VoteCast;

/// The virtual host Warren's services live in.
pub const DEFAULT_VHOST: &str = "warren";

/// How many times a quorum queue delivers a message before dead-lettering it.
pub const DELIVERY_LIMIT: u32 = 10;

/// How long a message waits in a retry queue before it returns to its consumer queue.
pub const RETRY_DELAY_MS: u32 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Topic,
    Direct,
}

impl ExchangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Topic => "topic",
            Self::Direct => "direct",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub name: &'static str,
    pub kind: ExchangeKind,
}

impl Exchange {
    pub const fn topic(name: &'static str) -> Self {
        Self {
            name,
            kind: ExchangeKind::Topic,
        }
    }

    pub const fn direct(name: &'static str) -> Self {
        Self {
            name,
            kind: ExchangeKind::Direct,
        }
    }
}

pub const VOTES: Exchange = Exchange::topic("warren.votes");
pub const USERS: Exchange = Exchange::topic("warren.users");
pub const LOCKERS: Exchange = Exchange::topic("warren.lockers");
pub const RECORDS: Exchange = Exchange::topic("warren.records");
/// Where a consumer sends a message to be retried later (routing key: its queue).
pub const RETRY: Exchange = Exchange::topic("warren.retry");
/// Where expired retries come back from (routing key: the consumer queue).
pub const REQUEUE: Exchange = Exchange::direct("warren.requeue");
/// Where poison goes (routing key: the consumer queue it came from).
pub const DEAD: Exchange = Exchange::topic("warren.dead");

pub const EXCHANGES: &[Exchange] = &[VOTES, USERS, LOCKERS, RECORDS, RETRY, REQUEUE, DEAD];

/// A consumer's work queue, owned by one broker user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerQueue {
    pub name: &'static str,
    /// The broker user (and service) that consumes it.
    pub owner: &'static str,
    /// `(exchange, binding key)` pairs that feed it.
    pub bindings: &'static [(Exchange, &'static str)],
}

impl ConsumerQueue {
    pub fn retry_queue(&self) -> String {
        format!("{}.retry", self.name)
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.name)
    }
}

pub const TALLY_VOTES: ConsumerQueue = ConsumerQueue {
    name: "tally-worker.votes",
    owner: "tally-worker",
    bindings: &[(VOTES, "vote.cast")],
};
pub const USER_SERVICE_USERS: ConsumerQueue = ConsumerQueue {
    name: "user-service.users",
    owner: "user-service",
    bindings: &[
        (USERS, "user.#"),
        (LOCKERS, "locker.assigned"),
        (LOCKERS, "locker.unavailable"),
        (LOCKERS, "locker.released"),
    ],
};
pub const LOCKER_SERVICE_LOCKERS: ConsumerQueue = ConsumerQueue {
    name: "locker-service.lockers",
    owner: "locker-service",
    bindings: &[
        (LOCKERS, "locker.add-requested"),
        (LOCKERS, "locker.retire-requested"),
        (LOCKERS, "locker.requested"),
        (LOCKERS, "locker.release-requested"),
    ],
};
pub const RECORD_SERVICE_RECORDS: ConsumerQueue = ConsumerQueue {
    name: "record-service.records",
    owner: "record-service",
    bindings: &[(RECORDS, "record.#")],
};

pub const CONSUMER_QUEUES: &[ConsumerQueue] = &[
    TALLY_VOTES,
    USER_SERVICE_USERS,
    LOCKER_SERVICE_LOCKERS,
    RECORD_SERVICE_RECORDS,
];

/// A broker user: one per service, plus the administrator that owns the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerUser {
    pub name: &'static str,
    /// The events it publishes, as `(exchange, routing key)`: on each exchange it may write only
    /// these routing keys (topic permissions), and it is the one sender that consumers accept
    /// for each of these event types.
    pub publishes: &'static [(Exchange, &'static str)],
}

/// Where `E` is published: its exchange, and its type as the routing key.
const fn route<E: Event>() -> (Exchange, &'static str) {
    (E::EXCHANGE, E::TYPE)
}

pub const ADMIN_USER: &str = "warren-admin";

pub const SERVICE_USERS: &[BrokerUser] = &[
    BrokerUser {
        name: "vote-service",
        publishes: &[route::<VoteCast>()],
    },
    BrokerUser {
        name: "tally-worker",
        publishes: &[],
    },
    BrokerUser {
        name: "user-service",
        publishes: &[
            route::<LockerRequested>(),
            route::<LockerReleaseRequested>(),
        ],
    },
    BrokerUser {
        name: "locker-service",
        publishes: &[
            route::<LockerAssigned>(),
            route::<LockerUnavailable>(),
            route::<LockerReleased>(),
        ],
    },
    BrokerUser {
        name: "locker-app",
        publishes: &[
            route::<RegistrationRequested>(),
            route::<DeletionRequested>(),
            route::<LockerWanted>(),
            route::<ReleaseWanted>(),
            route::<PromotionRequested>(),
            route::<LockerAddRequested>(),
            route::<LockerRetireRequested>(),
        ],
    },
    BrokerUser {
        name: "record-service",
        publishes: &[route::<WeatherRecorded>(), route::<RecordDeleted>()],
    },
];

/// The one service user that may publish `event_type`, if any: consumers dead-letter an event
/// from anyone else.
pub fn producer_of(event_type: &str) -> Option<&'static str> {
    SERVICE_USERS
        .iter()
        .find(|user| user.publishes.iter().any(|(_, key)| *key == event_type))
        .map(|user| user.name)
}

impl BrokerUser {
    pub fn queues(&self) -> Vec<&'static ConsumerQueue> {
        CONSUMER_QUEUES
            .iter()
            .filter(|queue| queue.owner == self.name)
            .collect()
    }

    /// Everything it may write, as `(exchange, routing keys)`: its own events on their
    /// exchanges, and its queues' names on the retry and dead-letter exchanges when it consumes.
    pub fn writable_routing_keys(&self) -> Vec<(Exchange, Vec<&'static str>)> {
        let mut writable: Vec<(Exchange, Vec<&'static str>)> = Vec::new();
        for (exchange, key) in self.publishes {
            match writable.iter_mut().find(|(seen, _)| seen == exchange) {
                Some((_, keys)) => keys.push(key),
                None => writable.push((*exchange, vec![key])),
            }
        }
        let own: Vec<&'static str> = self.queues().iter().map(|queue| queue.name).collect();
        if !own.is_empty() {
            writable.extend([(RETRY, own.clone()), (DEAD, own)]);
        }
        writable
    }

    /// Every exchange it may write to.
    pub fn writable_exchanges(&self) -> Vec<&'static str> {
        self.writable_routing_keys()
            .iter()
            .map(|(exchange, _)| exchange.name)
            .collect()
    }
}

/// A regular expression matching exactly `names` (or nothing, when empty).
fn exact_pattern(names: &[&str]) -> String {
    let escaped: Vec<String> = names.iter().map(|name| name.replace('.', "\\.")).collect();
    match escaped.as_slice() {
        [] => "^$".to_owned(),
        [one] => format!("^{one}$"),
        many => format!("^({})$", many.join("|")),
    }
}

fn consumer_queue_arguments() -> Value {
    json!({
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD.name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    })
}

fn retry_queue_arguments() -> Value {
    json!({
        "x-queue-type": "quorum",
        "x-message-ttl": RETRY_DELAY_MS,
        "x-dead-letter-exchange": REQUEUE.name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    })
}

fn dead_letter_queue_arguments() -> Value {
    json!({ "x-queue-type": "quorum" })
}

/// The queues of the topology: `(name, arguments)`.
pub fn queues() -> Vec<(String, Value)> {
    let mut queues = Vec::new();
    for queue in CONSUMER_QUEUES {
        let mut arguments = consumer_queue_arguments();
        arguments["x-dead-letter-routing-key"] = json!(queue.name);
        queues.push((queue.name.to_owned(), arguments));
        queues.push((queue.retry_queue(), retry_queue_arguments()));
        queues.push((queue.dead_letter_queue(), dead_letter_queue_arguments()));
    }
    queues
}

/// The bindings of the topology: `(exchange, queue, binding key)`.
pub fn bindings() -> Vec<(&'static str, String, String)> {
    let mut bindings = Vec::new();
    for queue in CONSUMER_QUEUES {
        for (exchange, key) in queue.bindings {
            bindings.push((exchange.name, queue.name.to_owned(), (*key).to_owned()));
        }
        bindings.push((RETRY.name, queue.retry_queue(), queue.name.to_owned()));
        bindings.push((REQUEUE.name, queue.name.to_owned(), queue.name.to_owned()));
        bindings.push((DEAD.name, queue.dead_letter_queue(), queue.name.to_owned()));
    }
    bindings
}

/// The broker definitions document (RabbitMQ's import format) for `vhost`, without passwords.
pub fn definitions(vhost: &str) -> Value {
    let mut users = vec![json!({ "name": ADMIN_USER, "tags": ["administrator"] })];
    let mut permissions = vec![json!({
        "user": ADMIN_USER, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*",
    })];
    let mut topic_permissions = Vec::new();
    for user in SERVICE_USERS {
        let own: Vec<&str> = user.queues().iter().map(|queue| queue.name).collect();
        users.push(json!({ "name": user.name, "tags": [] }));
        permissions.push(json!({
            "user": user.name,
            "vhost": vhost,
            "configure": "^$",
            "write": exact_pattern(&user.writable_exchanges()),
            "read": exact_pattern(&own),
        }));
        // RabbitMQ checks the routing key of a publish only on topic exchanges, and only for
        // a user with a topic permission on that exchange: every exchange a service may write
        // is a topic exchange (a test says so), and each gets its exact routing keys.
        for (exchange, keys) in user.writable_routing_keys() {
            topic_permissions.push(json!({
                "user": user.name,
                "vhost": vhost,
                "exchange": exchange.name,
                "write": exact_pattern(&keys),
                "read": "^$",
            }));
        }
    }
    let exchanges: Vec<Value> = EXCHANGES
        .iter()
        .map(|exchange| {
            json!({
                "name": exchange.name, "vhost": vhost, "type": exchange.kind.as_str(),
                "durable": true, "auto_delete": false, "internal": false, "arguments": {},
            })
        })
        .collect();
    let queues: Vec<Value> = queues()
        .into_iter()
        .map(|(name, arguments)| {
            json!({
                "name": name, "vhost": vhost, "durable": true, "auto_delete": false,
                "arguments": arguments,
            })
        })
        .collect();
    let bindings: Vec<Value> = bindings()
        .into_iter()
        .map(|(source, destination, key)| {
            json!({
                "source": source, "vhost": vhost, "destination": destination,
                "destination_type": "queue", "routing_key": key, "arguments": {},
            })
        })
        .collect();
    json!({
        "vhosts": [{ "name": vhost }],
        "users": users,
        "permissions": permissions,
        "topic_permissions": topic_permissions,
        "parameters": [],
        "policies": policies(vhost, QueueBounds::DEFAULT),
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_owner_is_a_service_user() {
        for queue in CONSUMER_QUEUES {
            assert!(
                SERVICE_USERS.iter().any(|user| user.name == queue.owner),
                "{queue:?}"
            );
        }
    }

    #[test]
    fn every_event_type_has_one_producer() {
        let mut seen = std::collections::BTreeMap::new();
        for user in SERVICE_USERS {
            for (exchange, key) in user.publishes {
                assert!(
                    seen.insert(*key, user.name).is_none(),
                    "{key} has two producers"
                );
                assert_eq!(producer_of(key), Some(user.name));
                assert!(EXCHANGES.contains(exchange), "{exchange:?}");
            }
        }
        assert_eq!(producer_of("vote.cast"), Some("vote-service"));
        assert_eq!(producer_of("locker.assigned"), Some("locker-service"));
        assert_eq!(producer_of("vote.other"), None);
    }

    #[test]
    fn every_exchange_a_service_may_write_is_a_topic_exchange_with_its_routing_keys() {
        let definitions = definitions(DEFAULT_VHOST);
        let entries = definitions["topic_permissions"].as_array().unwrap();
        for user in SERVICE_USERS {
            let writable = user.writable_routing_keys();
            for (exchange, keys) in &writable {
                // A direct or fanout exchange ignores topic permissions: any key would pass.
                assert_eq!(exchange.kind, ExchangeKind::Topic, "{}", exchange.name);
                let entry: Vec<_> = entries
                    .iter()
                    .filter(|p| p["user"] == user.name && p["exchange"] == exchange.name)
                    .collect();
                assert_eq!(entry.len(), 1, "{} on {}", user.name, exchange.name);
                assert_eq!(entry[0]["write"], exact_pattern(keys));
            }
            let topic_entries = entries.iter().filter(|p| p["user"] == user.name).count();
            assert_eq!(topic_entries, writable.len(), "{}", user.name);
        }
        let vote_service = entries
            .iter()
            .find(|p| p["user"] == "vote-service")
            .unwrap();
        assert_eq!(vote_service["exchange"], "warren.votes");
        assert_eq!(vote_service["write"], "^vote\\.cast$");
    }

    #[test]
    fn producers_may_write_only_their_own_exchanges() {
        let definitions = definitions(DEFAULT_VHOST);
        let vote_service = definitions["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["user"] == "vote-service")
            .unwrap();
        assert_eq!(vote_service["write"], "^warren\\.votes$");
        assert_eq!(vote_service["read"], "^$");
        assert_eq!(vote_service["configure"], "^$");
    }
}
