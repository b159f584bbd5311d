//! What a voter carries from one vote to the next, in a cookie signed by vote-service: the
//! sequence of the last vote they sent and the ballots (attempt ids) they sent lately.
//!
//! Instances of vote-service share nothing and their clocks may disagree by seconds, so a
//! voter's votes are not ordered by the clock of whichever instance took each: every vote
//! gets a sequence above the one the voter carries (a hybrid logical clock in milliseconds,
//! see [`OrderedVoteCast`](warren_messages::events::votes::OrderedVoteCast)). The sent
//! ballots make sending one ballot again (a retry after an unknown outcome) the same vote with
//! the same message id and sequence, and keep an old ballot from being mistaken for a new vote.

use uuid::Uuid;
use warren_service_kit::web::Csrf;

/// The cookie that carries the log.
pub const COOKIE: &str = "warren_vote_log";
/// How many sent ballots the log remembers.
const REMEMBERED: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoterLog {
    /// The sequence of the last vote sent (confirmed, or perhaps recorded); 0 before any.
    sequence: u64,
    /// The ballots sent lately, oldest first, each with the option it carried.
    sent: Vec<(Uuid, String)>,
}

/// What to do with a ballot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Publish the vote with this sequence (the same one again for a ballot sent before).
    Send { sequence: u64 },
    /// The ballot was sent before, for `option`, and then either a later ballot was sent or
    /// this one now carries another option: publishing it again would be deduplicated, so the
    /// voter would be told of a vote that does not count.
    Stale { option: String },
}

impl VoterLog {
    /// The place of a vote for `option` sent with ballot `attempt` when the instance's clock
    /// reads `now_ms`.
    pub fn plan(&self, attempt: Uuid, option: &str, now_ms: u64) -> Plan {
        match self.sent.iter().position(|(sent, _)| *sent == attempt) {
            None => Plan::Send {
                sequence: self.sequence.saturating_add(1).max(now_ms),
            },
            Some(at) if at + 1 == self.sent.len() && self.sent[at].1 == option => Plan::Send {
                sequence: self.sequence,
            },
            Some(at) => Plan::Stale {
                option: self.sent[at].1.clone(),
            },
        }
    }

    /// The log after the ballot was sent with `sequence` (and confirmed, or perhaps recorded).
    pub fn sent(mut self, attempt: Uuid, option: &str, sequence: u64) -> Self {
        if self.sent.last().map(|(last, _)| *last) != Some(attempt) {
            self.sent.push((attempt, option.to_owned()));
            let excess = self.sent.len().saturating_sub(REMEMBERED);
            self.sent.drain(..excess);
        }
        self.sequence = self.sequence.max(sequence);
        self
    }

    fn payload(&self) -> String {
        let sent: Vec<String> = self
            .sent
            .iter()
            .map(|(attempt, option)| format!("{}{option}", attempt.simple()))
            .collect();
        format!("{}.{}", self.sequence, sent.join("-"))
    }

    fn signed(voter: Uuid, payload: &str) -> Vec<u8> {
        [voter.as_bytes().as_slice(), payload.as_bytes()].concat()
    }

    /// The cookie's value for `voter`: `<sequence>.<attempt><option>-….<signature>`.
    pub fn encode(&self, signer: &Csrf, voter: Uuid) -> String {
        let payload = self.payload();
        let signature = signer.sign(&Self::signed(voter, &payload));
        format!("{payload}.{signature}")
    }

    /// The log in a cookie's value, if it was signed for `voter`; an absent or invalid one
    /// reads as an empty log (the votes are then ordered by the instances' clocks).
    pub fn decode(signer: &Csrf, voter: Uuid, value: Option<&str>) -> Self {
        value
            .and_then(|value| {
                let (payload, signature) = value.rsplit_once('.')?;
                signer
                    .verify_signature(&Self::signed(voter, payload), signature)
                    .then(|| Self::parse(payload))?
            })
            .unwrap_or_default()
    }

    fn parse(payload: &str) -> Option<Self> {
        let (sequence, sent) = payload.split_once('.')?;
        let sent = sent
            .split('-')
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let attempt = Uuid::try_parse(entry.get(..32)?).ok()?;
                Some((attempt, entry.get(32..)?.to_owned()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            sequence: sequence.parse().ok()?,
            sent,
        })
    }

    /// The `Set-Cookie` value that stores the log.
    pub fn cookie(&self, signer: &Csrf, voter: Uuid) -> String {
        format!(
            "{COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
            self.encode(signer, voter)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn signer() -> Csrf {
        Csrf::new(b"secret", "vote-log")
    }

    fn sequence(plan: Plan) -> u64 {
        match plan {
            Plan::Send { sequence } => sequence,
            Plan::Stale { option } => panic!("stale ballot for {option}"),
        }
    }

    #[test]
    fn each_new_ballot_is_ordered_after_the_last_one_sent_whatever_the_clock_says() {
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        let log = VoterLog::default();
        // Taken by an instance whose clock runs ten seconds ahead...
        let ahead = sequence(log.plan(first, "a", NOW + 10_000));
        let log = log.sent(first, "a", ahead);
        // ...then by one ten seconds behind: still after it.
        let behind = sequence(log.plan(second, "b", NOW - 10_000));
        assert!(behind > ahead);
        // An instance with a later clock orders by it.
        let log = log.sent(second, "b", behind);
        assert_eq!(
            sequence(log.plan(Uuid::now_v7(), "a", NOW + 60_000)),
            NOW + 60_000
        );
    }

    #[test]
    fn the_same_ballot_sent_again_keeps_its_place() {
        let attempt = Uuid::now_v7();
        let log = VoterLog::default();
        let first = sequence(log.plan(attempt, "a", NOW));
        let log = log.sent(attempt, "a", first);
        assert_eq!(
            log.plan(attempt, "a", NOW + 5_000),
            Plan::Send { sequence: first }
        );
        assert_eq!(log.clone().sent(attempt, "a", first), log);
    }

    #[test]
    fn a_ballot_sent_before_is_stale_with_another_option_or_after_a_later_ballot() {
        let (old, new) = (Uuid::now_v7(), Uuid::now_v7());
        let log = VoterLog::default().sent(old, "a", NOW);
        let stale = Plan::Stale { option: "a".into() };
        assert_eq!(log.plan(old, "b", NOW), stale);
        let log = log.sent(new, "b", NOW + 1);
        assert_eq!(log.plan(old, "a", NOW), stale);
        assert_eq!(log.plan(new, "b", NOW), Plan::Send { sequence: NOW + 1 });
    }

    #[test]
    fn the_log_remembers_the_latest_ballots_only() {
        let mut log = VoterLog::default();
        let attempts: Vec<Uuid> = (0..REMEMBERED + 2).map(|_| Uuid::now_v7()).collect();
        for (n, attempt) in attempts.iter().enumerate() {
            log = log.sent(*attempt, "a", NOW + n as u64);
        }
        assert_eq!(log.sent.len(), REMEMBERED);
        assert_eq!(log.sent.first().unwrap().0, attempts[2]);
    }

    #[test]
    fn the_cookie_reads_back_only_unaltered_and_for_its_voter() {
        let voter = Uuid::new_v4();
        let log =
            VoterLog::default()
                .sent(Uuid::now_v7(), "a", NOW)
                .sent(Uuid::now_v7(), "b", NOW + 1);
        let value = log.encode(&signer(), voter);
        assert!(
            value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "{value}"
        );
        assert_eq!(VoterLog::decode(&signer(), voter, Some(&value)), log);
        let empty = VoterLog::default();
        assert_eq!(
            VoterLog::decode(&signer(), Uuid::new_v4(), Some(&value)),
            empty
        );
        let sequence = (NOW + 1).to_string();
        assert!(value.starts_with(&sequence));
        let raised = value.replacen(&sequence, &(NOW * 2).to_string(), 1);
        assert_eq!(VoterLog::decode(&signer(), voter, Some(&raised)), empty);
        assert_eq!(VoterLog::decode(&signer(), voter, Some("garbage")), empty);
        assert_eq!(VoterLog::decode(&signer(), voter, None), empty);
        let empty_value = empty.encode(&signer(), voter);
        assert_eq!(
            VoterLog::decode(&signer(), voter, Some(&empty_value)),
            empty
        );
    }
}
