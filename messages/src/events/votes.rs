//! Votes: a voter chose an option in a poll.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::topology::{self, Exchange};

/// A voter cast (or changed) their vote. The latest by `occurred_at` counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteCast {
    pub poll: String,
    pub voter_id: Uuid,
    pub option: String,
}

impl Event for VoteCast {
    const TYPE: &'static str = "vote.cast";
    const SCHEMA_VERSION: u16 = 1;
    const EXCHANGE: Exchange = topology::VOTES;
}
