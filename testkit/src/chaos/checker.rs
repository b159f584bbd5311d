//! The history checker: once the system is quiet, the read models are compared with what
//! the clients saw. Every rule here can fire; `scripts/chaos --self-test` shows that each
//! sabotaged guarantee makes one of them fire.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ledger::{Attempt, Seen};
use super::load::LockerClient;
use super::report::Row;
use super::system::{System, postgres_client};

/// How many of the checker's findings a row's notes name, at most, per kind.
const EXAMPLES: usize = 3;

/// One voter's stored vote.
struct Stored {
    option: String,
    /// How many of the voter's votes the projection applied.
    applied: i64,
}

/// Compares the votes read model with the attempts. Per voter:
/// - the number of votes applied lies between the confirmed ones and the confirmed plus the
///   unknown ones: fewer is a lost vote, more a vote applied twice (or after a refusal);
/// - the stored option is the one of the voter's last confirmed vote or of a later unknown
///   one: anything else means a confirmed vote was lost or applied out of order;
/// - a voter present with only refused votes, or never attempted at all, is unexpected.
pub async fn votes(system: &System, attempts: &[Attempt], row: &mut Row) {
    let client = postgres_client(&system.votes_db)
        .await
        .unwrap_or_else(|error| panic!("the votes database: {error}"));
    let rows = client
        .query(
            "SELECT voter_id::text, option, applied_votes::bigint FROM votes",
            &[],
        )
        .await
        .unwrap_or_else(|error| panic!("reading the votes: {error}"));
    let mut present: HashMap<String, Stored> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                Stored {
                    option: r.get(1),
                    applied: r.get(2),
                },
            )
        })
        .collect();
    let mut by_voter: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
    for attempt in attempts {
        by_voter.entry(&attempt.key).or_default().push(attempt);
    }
    let mut examples: Vec<String> = Vec::new();
    for (voter, mut history) in by_voter {
        history.sort_by_key(|attempt| attempt.at);
        let confirmed = count(&history, Seen::Confirmed);
        let unknown = count(&history, Seen::Unknown);
        row.attempted += history.len();
        row.confirmed += confirmed;
        let Some(stored) = present.remove(voter) else {
            row.lost += confirmed;
            if confirmed > 0 {
                examples.push(format!("voter {voter}: {confirmed} confirmed, none stored"));
            }
            continue;
        };
        if confirmed + unknown == 0 {
            row.unexpected += 1;
            examples.push(format!("voter {voter}: every vote refused, yet one stored"));
            continue;
        }
        let applied = usize::try_from(stored.applied).unwrap_or(0);
        if applied < confirmed {
            row.lost += confirmed - applied;
            examples.push(format!(
                "voter {voter}: {confirmed} votes confirmed, {applied} applied"
            ));
        } else if applied > confirmed + unknown {
            row.duplicated += applied - confirmed - unknown;
            examples.push(format!(
                "voter {voter}: {applied} votes applied, only {} sent",
                confirmed + unknown
            ));
        } else {
            row.recovered += applied - confirmed;
        }
        let last_confirmed = history
            .iter()
            .rposition(|attempt| attempt.seen == Seen::Confirmed);
        let allowed: HashSet<&str> = history[last_confirmed.unwrap_or(0)..]
            .iter()
            .enumerate()
            .filter(|(n, attempt)| {
                (*n == 0 && last_confirmed.is_some()) || attempt.seen == Seen::Unknown
            })
            .map(|(_, attempt)| attempt.what.as_str())
            .collect();
        if !allowed.contains(stored.option.as_str()) {
            row.lost += 1;
            examples.push(format!(
                "voter {voter}: stored {:?}, but the last confirmed vote was {:?}",
                stored.option,
                last_confirmed.map(|n| history[n].what.as_str())
            ));
        }
    }
    row.unexpected += present.len();
    examples.extend(
        present
            .keys()
            .map(|voter| format!("voter {voter}: stored, never attempted")),
    );
    note_examples(row, "votes", &examples);
}

fn count(history: &[&Attempt], seen: Seen) -> usize {
    history
        .iter()
        .filter(|attempt| attempt.seen == seen)
        .count()
}

fn note_examples(row: &mut Row, what: &str, examples: &[String]) {
    if !examples.is_empty() {
        row.notes.push(format!(
            "{what}: {} findings, e.g. {}",
            examples.len(),
            examples[..examples.len().min(EXAMPLES)].join("; ")
        ));
    }
}

/// Compares the lockers and users with the requests, by the same rules as the votes: a
/// confirmed request must be decided; a refused one (4xx) must have no effect (its user
/// holding a locker is unexpected, as is any holder who never asked); an unknown one may
/// have taken effect (recovered). No user holds two lockers, no locker is given twice, and
/// the two stores agree (reconcile).
pub async fn lockers(
    client: &LockerClient,
    attempts: &[Attempt],
    users: usize,
    lockers: usize,
    row: &mut Row,
) {
    row.attempted += attempts.len();
    row.confirmed += attempts
        .iter()
        .filter(|a| a.seen == Seen::Confirmed)
        .count();
    let mut examples = Vec::new();
    let mut assigned = Vec::new();
    for attempt in attempts {
        let decided = match &attempt.status {
            Some(status) => client.status(status).await,
            None => None,
        };
        let outcome = decided.as_ref().and_then(|value| value["outcome"].as_str());
        if attempt.seen == Seen::Confirmed && outcome.is_none() {
            row.lost += 1;
            examples.push(format!("{}: confirmed, never decided", attempt.key));
        }
        if outcome == Some("assigned")
            && let Some(locker) = decided.as_ref().and_then(|v| v["locker"].as_str())
        {
            assigned.push(locker.to_owned());
        }
    }
    for report in every_page(client, "/api/reconcile").await {
        let disagreements = report["disagreements"].as_array().map_or(0, Vec::len);
        row.unexpected += disagreements;
        if disagreements > 0 {
            examples.push(format!("reconcile: {}", report["disagreements"]));
        }
    }
    let holders: Vec<String> = every_page(client, "/api/lockers")
        .await
        .iter()
        .filter_map(|page| page["items"].as_array())
        .flatten()
        .filter_map(|locker| locker["holder"].as_str().map(str::to_owned))
        .collect();
    let distinct: HashSet<&String> = holders.iter().collect();
    if holders.len() > distinct.len() {
        row.duplicated += holders.len() - distinct.len();
        examples.push("a user holds two lockers".into());
    }
    let given: HashSet<&String> = assigned.iter().collect();
    if assigned.len() > given.len() {
        row.duplicated += assigned.len() - given.len();
        examples.push(format!(
            "{} lockers were assigned by two requests",
            assigned.len() - given.len()
        ));
    }
    let asked: HashSet<&str> = attempts
        .iter()
        .filter(|a| a.seen != Seen::Failed)
        .map(|a| a.key.as_str())
        .collect();
    for holder in &distinct {
        if !asked.contains(holder.as_str()) {
            row.unexpected += 1;
            examples.push(format!(
                "{holder} holds a locker without a request that could give it"
            ));
        }
    }
    row.recovered += attempts
        .iter()
        .filter(|a| a.seen == Seen::Unknown && distinct.contains(&a.key))
        .count();
    note_examples(row, "lockers", &examples);
    row.notes.push(format!(
        "{lockers} lockers, {users} users of whom {} asked: {} held at the end",
        attempts.len(),
        holders.len()
    ));
}

/// Every page of the list (or check) at `path`, each page's `next` leading to the one after,
/// read with the operator's API token.
async fn every_page(client: &LockerClient, path: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut next = Some(format!("{path}?limit=200"));
    while let Some(path) = next {
        let page = get_json(client, &path).await;
        next = page["next"].as_str().map(str::to_owned);
        pages.push(page);
    }
    pages
}

async fn get_json(client: &LockerClient, path: &str) -> Value {
    let url = format!("{}{path}", client.base);
    let response = client
        .http
        .get(&url)
        .bearer_auth(&client.token)
        .send()
        .await
        .unwrap_or_else(|error| panic!("{url}: {error}"));
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response
        .json()
        .await
        .unwrap_or_else(|error| panic!("{url}: {error}"))
}

/// When writes came back after the fault began: the first confirmed attempt after the first
/// one that was not (`interrupted`), or, with no interruption, the first confirmed attempt
/// after the fault began. None when nothing was confirmed after the fault began.
pub fn recovery(attempts: &[Attempt], fault: Instant) -> (Option<Duration>, bool) {
    let mut after: Vec<&Attempt> = attempts.iter().filter(|a| a.at >= fault).collect();
    after.sort_by_key(|a| a.at);
    let broken = after.iter().position(|a| a.seen != Seen::Confirmed);
    let from = broken.unwrap_or(0);
    let first = after[from..]
        .iter()
        .find(|a| a.seen == Seen::Confirmed)
        .map(|a| a.at - fault);
    (first, broken.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(seen: Seen, at: Instant) -> Attempt {
        Attempt {
            key: "k".into(),
            what: "a".into(),
            seen,
            at,
            took: Duration::ZERO,
            status: None,
        }
    }

    #[test]
    fn nothing_confirmed_after_the_fault_is_no_recovery() {
        let fault = Instant::now();
        let before = attempt(Seen::Confirmed, fault - Duration::from_secs(1));
        let after = attempt(Seen::Unknown, fault + Duration::from_secs(1));
        assert_eq!(recovery(&[before, after], fault), (None, true));
        assert_eq!(recovery(&[], fault), (None, false));
    }

    #[test]
    fn recovery_is_the_first_confirm_after_the_interruption() {
        let fault = Instant::now();
        let at = |s: u64| fault + Duration::from_secs(s);
        let attempts = [
            attempt(Seen::Confirmed, at(1)),
            attempt(Seen::Unknown, at(2)),
            attempt(Seen::Confirmed, at(5)),
        ];
        assert_eq!(
            recovery(&attempts, fault),
            (Some(Duration::from_secs(5)), true)
        );
        assert_eq!(
            recovery(&attempts[..1], fault),
            (Some(Duration::from_secs(1)), false)
        );
    }
}
