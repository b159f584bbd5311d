//! Checks that the two stores agree: every held locker's holder exists and points back to it,
//! and every user's locker is held by that user. While requests are in flight they may
//! disagree for a moment; once the queues are empty they must not.
//!
//! One call checks one range of names, `(after, through]`: the users named in it, the lockers
//! held by a name in it and the lockers its users' rows name. The range holds at most `limit`
//! names (of users and holders together), so a call reads a bounded number of rows however
//! large the stores are, and walking on with `after = through` covers every name once.

use std::collections::{BTreeMap, BTreeSet};

use deadpool_postgres::Pool;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    /// The range checked: names after `after` (from the first without it)...
    pub after: Option<String>,
    /// ...up to and including `through` (to the last name without it).
    pub through: Option<String>,
    /// Users in the range.
    pub users: usize,
    /// Lockers held by a name in the range.
    pub held: usize,
    /// Whether the stores agree in the range.
    pub agree: bool,
    pub disagreements: Vec<String>,
}

/// Checks the first `limit` names (of users and of lockers' holders) after `after`.
pub async fn check(
    users: &Pool,
    lockers: &mongodb::Database,
    after: Option<&str>,
    limit: usize,
) -> anyhow::Result<Report> {
    // The first `limit + 1` names of each store; the first `limit` of their union are then
    // all the names of both stores up to the range's end.
    let user_page = warren_store_users::users(users, after, limit).await?;
    let held = warren_store_lockers::held_after(lockers, after, limit.saturating_add(1)).await?;
    let names: BTreeSet<&str> = user_page
        .items
        .iter()
        .map(|user| user.name.as_str())
        .chain(held.iter().filter_map(|locker| locker.holder.as_deref()))
        .collect();
    // Short of `limit` names with both stores read to their end, the range runs to the end.
    let through = if names.len() > limit || user_page.next.is_some() {
        names
            .iter()
            .nth(limit.saturating_sub(1))
            .map(|name| (*name).to_owned())
    } else {
        None
    };
    let in_range = |name: &str| through.as_deref().is_none_or(|through| name <= through);
    let page_users: Vec<&warren_store_users::User> = user_page
        .items
        .iter()
        .filter(|user| in_range(&user.name))
        .collect();
    let held: Vec<&warren_store_lockers::Locker> = held
        .iter()
        .filter(|locker| locker.holder.as_deref().is_some_and(in_range))
        .collect();
    let named: Vec<&str> = page_users
        .iter()
        .filter_map(|user| user.locker.as_deref())
        .collect();
    let named = warren_store_lockers::lockers_coded(lockers, &named).await?;

    let user_lockers: BTreeMap<&str, Option<&str>> = page_users
        .iter()
        .map(|user| (user.name.as_str(), user.locker.as_deref()))
        .collect();
    let holders: BTreeMap<&str, Option<&str>> = named
        .iter()
        .map(|locker| (locker.code.as_str(), locker.holder.as_deref()))
        .collect();
    let mut disagreements = one_way(
        held.iter()
            .filter_map(|locker| Some((locker.code.as_str(), locker.holder.as_deref()?))),
        &user_lockers,
        |code, holder| format!("locker {code} is held by {holder:?}, who is not a user"),
        |code, holder, row| format!("locker {code} is held by {holder:?}, whose row says {row:?}"),
    );
    disagreements.extend(one_way(
        page_users
            .iter()
            .filter_map(|user| Some((user.name.as_str(), user.locker.as_deref()?))),
        &holders,
        |name, code| format!("{name:?} holds locker {code}, which does not exist"),
        |name, code, holder| {
            format!("{name:?}'s row says locker {code}, which is held by {holder:?}")
        },
    ));
    Ok(Report {
        after: after.map(str::to_owned),
        through,
        users: page_users.len(),
        held: held.len(),
        agree: disagreements.is_empty(),
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
