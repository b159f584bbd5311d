//! Queue bounds: how many ready messages a consumer queue and a dead-letter queue hold before
//! the broker refuses more, stated as broker policies (`max-length`, `overflow:
//! reject-publish`) rather than queue arguments.
//!
//! A policy changes on a running broker, for queues that already exist: redeclaring a quorum
//! queue with other arguments fails (`PRECONDITION_FAILED`), and scripts/up keeps the broker's
//! data across runs. The defaults are here; an operator's bound (`WARREN_QUEUE_MAX_LENGTH`,
//! `WARREN_DEAD_QUEUE_MAX_LENGTH`) replaces a policy's `max-length` when the scripts import the
//! definitions (`scripts/lib/render_definitions.py`, which finds each policy by its name).
//!
//! With `reject-publish` the broker nacks a publish that a full queue refused, so a stuck
//! consumer turns into "busy, try again" at the frontends instead of an unbounded queue. A
//! consumer queue dead-letters at least once (`x-dead-letter-strategy`, which needs
//! `reject-publish` on it): a message the full dead-letter queue refuses stays in its source
//! queue (counting towards that queue's bound) until the dead-letter queue takes it, so a bound
//! on `.dead` loses nothing. The `.retry` queues stay unbounded: only their own consumer queue
//! feeds them, with messages it already holds.

use serde_json::{Value, json};

use super::{CONSUMER_QUEUES, exact_pattern};

/// The name of the policy that bounds every consumer queue.
pub const QUEUE_BOUND_POLICY: &str = "warren-queue-bound";

/// The name of the policy that bounds every dead-letter queue.
pub const DEAD_LETTER_BOUND_POLICY: &str = "warren-dead-letter-bound";

/// How many ready messages each consumer queue and each dead-letter queue hold before the
/// broker refuses publishes to them. Quorum queues count ready messages (not those delivered
/// and unacknowledged), and refuse once the count is past the bound, so a queue may hold a
/// message more than its bound and a few in flight; they take publishes again once below 80%.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBounds {
    pub consumer_queue: u32,
    pub dead_letter_queue: u32,
}

impl QueueBounds {
    /// What the broker is given unless the operator says otherwise: a consumer queue holds
    /// about a minute of Warren's peak load (`scripts/bench`), a dead-letter queue far more
    /// poison than anyone should let pile up.
    pub const DEFAULT: Self = Self {
        consumer_queue: 100_000,
        dead_letter_queue: 10_000,
    };
}

/// The bounding policies for `vhost`, in RabbitMQ's definitions format.
pub fn policies(vhost: &str, bounds: QueueBounds) -> Vec<Value> {
    let consumer_queues: Vec<&str> = CONSUMER_QUEUES.iter().map(|queue| queue.name).collect();
    let dead_letter_queues: Vec<String> = CONSUMER_QUEUES
        .iter()
        .map(|queue| queue.dead_letter_queue())
        .collect();
    let dead_letter_queues: Vec<&str> = dead_letter_queues.iter().map(String::as_str).collect();
    let policy = |name: &str, queues: &[&str], max_length: u32| {
        json!({
            "vhost": vhost,
            "name": name,
            "pattern": exact_pattern(queues),
            "apply-to": "queues",
            "priority": 0,
            "definition": { "max-length": max_length, "overflow": "reject-publish" },
        })
    };
    vec![
        policy(QUEUE_BOUND_POLICY, &consumer_queues, bounds.consumer_queue),
        policy(
            DEAD_LETTER_BOUND_POLICY,
            &dead_letter_queues,
            bounds.dead_letter_queue,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{DEFAULT_VHOST, TALLY_VOTES, definitions};

    fn matches(pattern: &str, name: &str) -> bool {
        // The patterns are `^(a|b)$` with escaped dots: a name matches when it is one of them.
        let inner = pattern
            .trim_start_matches('^')
            .trim_end_matches('$')
            .trim_start_matches('(')
            .trim_end_matches(')');
        inner
            .split('|')
            .any(|alternative| alternative.replace("\\.", ".") == name)
    }

    #[test]
    fn every_consumer_and_dead_letter_queue_is_bounded_by_exactly_one_policy_and_retries_by_none() {
        let definitions = definitions(DEFAULT_VHOST);
        let policies = definitions["policies"].as_array().unwrap();
        let bounding = |name: &str| -> Vec<&Value> {
            policies
                .iter()
                .filter(|policy| matches(policy["pattern"].as_str().unwrap(), name))
                .collect()
        };
        for queue in CONSUMER_QUEUES {
            let own = bounding(queue.name);
            assert_eq!(own.len(), 1, "{}", queue.name);
            assert_eq!(own[0]["definition"]["overflow"], "reject-publish");
            assert_eq!(
                own[0]["definition"]["max-length"],
                QueueBounds::DEFAULT.consumer_queue
            );
            let dead = bounding(&queue.dead_letter_queue());
            assert_eq!(dead.len(), 1, "{}", queue.dead_letter_queue());
            assert_eq!(dead[0]["definition"]["overflow"], "reject-publish");
            assert_eq!(
                dead[0]["definition"]["max-length"],
                QueueBounds::DEFAULT.dead_letter_queue
            );
            assert!(bounding(&queue.retry_queue()).is_empty());
        }
    }

    #[test]
    fn a_bounded_queue_dead_letters_at_least_once_with_reject_publish_as_that_requires() {
        // At-least-once dead-lettering is what keeps a message the full `.dead` refused.
        let (_, arguments) = crate::topology::queues()
            .into_iter()
            .find(|(name, _)| name == TALLY_VOTES.name)
            .unwrap();
        assert_eq!(arguments["x-dead-letter-strategy"], "at-least-once");
        assert_eq!(arguments["x-overflow"], "reject-publish");
    }
}
