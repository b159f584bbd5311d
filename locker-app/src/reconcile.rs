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
    let by_name: BTreeMap<&str, &warren_store_users::User> = users
        .iter()
        .map(|user| (user.name.as_str(), user))
        .collect();
    let by_code: BTreeMap<&str, &warren_store_lockers::Locker> = lockers
        .iter()
        .map(|locker| (locker.code.as_str(), locker))
        .collect();
    let mut disagreements = Vec::new();
    for locker in &lockers {
        let Some(holder) = &locker.holder else {
            continue;
        };
        match by_name.get(holder.as_str()) {
            None => disagreements.push(format!(
                "locker {} is held by {holder:?}, who is not a user",
                locker.code
            )),
            Some(user) if user.locker.as_deref() != Some(locker.code.as_str()) => disagreements
                .push(format!(
                    "locker {} is held by {holder:?}, whose row says {:?}",
                    locker.code, user.locker
                )),
            Some(_) => {}
        }
    }
    for user in &users {
        let Some(code) = &user.locker else {
            continue;
        };
        match by_code.get(code.as_str()) {
            None => disagreements.push(format!(
                "{:?} holds locker {code}, which does not exist",
                user.name
            )),
            Some(locker) if locker.holder.as_deref() != Some(user.name.as_str()) => disagreements
                .push(format!(
                    "{:?}'s row says locker {code}, which is held by {:?}",
                    user.name, locker.holder
                )),
            Some(_) => {}
        }
    }
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
