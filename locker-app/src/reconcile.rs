//! Checks that the two stores agree: every held locker's holder exists and points back to it,
//! and every user's locker is held by that user. While requests are in flight they may
//! disagree for a moment; once the queues are empty they must not.

use std::collections::BTreeMap;

use deadpool_postgres::Pool;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub users: usize,
    pub lockers: usize,
    pub held: usize,
    pub disagreements: Vec<String>,
}

pub async fn check(users: &Pool, lockers: &mongodb::Database) -> anyhow::Result<Report> {
    let users = warren_store_users::users(users).await?;
    let lockers = warren_store_lockers::all_lockers(lockers).await?;
    let user_lockers: BTreeMap<&str, Option<&str>> = users
        .iter()
        .map(|user| (user.name.as_str(), user.locker.as_deref()))
        .collect();
    let holders: BTreeMap<&str, Option<&str>> = lockers
        .iter()
        .map(|locker| (locker.code.as_str(), locker.holder.as_deref()))
        .collect();
    let mut disagreements = one_way(
        lockers
            .iter()
            .filter_map(|locker| Some((locker.code.as_str(), locker.holder.as_deref()?))),
        &user_lockers,
        |code, holder| format!("locker {code} is held by {holder:?}, who is not a user"),
        |code, holder, row| format!("locker {code} is held by {holder:?}, whose row says {row:?}"),
    );
    disagreements.extend(one_way(
        users
            .iter()
            .filter_map(|user| Some((user.name.as_str(), user.locker.as_deref()?))),
        &holders,
        |name, code| format!("{name:?} holds locker {code}, which does not exist"),
        |name, code, holder| {
            format!("{name:?}'s row says locker {code}, which is held by {holder:?}")
        },
    ));
    Ok(Report {
        users: users.len(),
        lockers: lockers.len(),
        held: lockers
            .iter()
            .filter(|locker| locker.holder.is_some())
            .count(),
        disagreements,
    })
}

/// Each `(entry, named)` of one store checked against the other store, whose entries `back`
/// maps to what each names in turn: the named entry must exist (else `missing(entry, named)`)
/// and name the entry back (else `unreturned(entry, named, what it names)`).
fn one_way<'a>(
    links: impl IntoIterator<Item = (&'a str, &'a str)>,
    back: &BTreeMap<&str, Option<&str>>,
    missing: impl Fn(&str, &str) -> String,
    unreturned: impl Fn(&str, &str, Option<&str>) -> String,
) -> Vec<String> {
    links
        .into_iter()
        .filter_map(|(entry, named)| match back.get(named) {
            None => Some(missing(entry, named)),
            Some(&names) if names != Some(entry) => Some(unreturned(entry, named, names)),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_must_name_an_entry_that_names_it_back() {
        let back = BTreeMap::from([("ada", Some("A-1")), ("bob", None), ("eve", Some("B-2"))]);
        let found = one_way(
            [
                ("A-1", "ada"),
                ("A-2", "bob"),
                ("A-3", "zed"),
                ("A-4", "eve"),
            ],
            &back,
            |entry, named| format!("{entry} names missing {named}"),
            |entry, named, names| format!("{entry} names {named}, which names {names:?}"),
        );
        assert_eq!(
            found,
            [
                "A-2 names bob, which names None",
                "A-3 names missing zed",
                "A-4 names eve, which names Some(\"B-2\")",
            ]
        );
    }
}
