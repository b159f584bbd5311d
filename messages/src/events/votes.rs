//! Votes: a voter chose an option in a poll.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::topology::Exchange;

/// A voter cast (or changed) their vote. Of a voter's votes the one latest in their own order
/// counts (see [`OrderedVoteCast`]); a vote without one is ordered by its `occurred_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteCast {
    pub poll: String,
    pub voter_id: Uuid,
    pub option: String,
}

event!(VoteCast, "vote.cast", VOTES);

/// The same `vote.cast` event with its place in the voter's own order: the fields of
/// [`VoteCast`] and `sequence`. A body without `sequence` (from a producer that does not send
/// one) reads as `None`, and a consumer that knows only [`VoteCast`] ignores it, so both
/// shapes travel on one schema version.
///
/// `sequence` is a hybrid logical clock in milliseconds carried by the voter (vote-service
/// keeps it in a signed cookie): each vote gets at least the previous one's plus one, and at
/// least the taking instance's clock. So a voter's later vote is ordered after every vote they
/// sent before it, whichever instance took each and however their clocks disagree; a vote
/// without one is ordered by its `occurred_at` in milliseconds, on the same scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedVoteCast {
    #[serde(flatten)]
    pub vote: VoteCast,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
}

impl Event for OrderedVoteCast {
    const TYPE: &'static str = VoteCast::TYPE;
    const SCHEMA_VERSION: u16 = VoteCast::SCHEMA_VERSION;
    const EXCHANGE: Exchange = VoteCast::EXCHANGE;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::envelope::{Envelope, decode};

    /// A vote by a new voter, for tests.
    pub(crate) fn vote() -> VoteCast {
        VoteCast {
            poll: "default".into(),
            voter_id: Uuid::new_v4(),
            option: "a".into(),
        }
    }

    #[test]
    fn a_vote_without_a_sequence_reads_as_an_ordered_vote_without_one() {
        let old = Envelope::new("old-producer", vote());
        let body = serde_json::to_vec(&old).unwrap();
        let read = decode::<OrderedVoteCast>(&body).unwrap();
        assert_eq!(read.payload.vote, old.payload);
        assert_eq!(read.payload.sequence, None);
    }

    #[test]
    fn an_ordered_vote_reads_as_a_vote_and_keeps_its_sequence() {
        let ordered = Envelope::new(
            "vote-service",
            OrderedVoteCast {
                vote: vote(),
                sequence: Some(1_700_000_000_123),
            },
        );
        let body = serde_json::to_vec(&ordered).unwrap();
        assert_eq!(
            decode::<VoteCast>(&body).unwrap().payload,
            ordered.payload.vote
        );
        assert_eq!(decode::<OrderedVoteCast>(&body).unwrap(), ordered);
    }
}
