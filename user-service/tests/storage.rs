//! The decision's storage against PostgreSQL: the row locks and the race for a new name.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use deadpool_postgres::Pool;
use user_service::configuration::{DEFAULTS, Settings};
use user_service::domain::{Answer, Command, LockerCode, PasswordHash, UserName, Verdict};
use user_service::startup::{SERVICE, build};
use user_service::storage;
use uuid::Uuid;
use warren_service_kit::{passwords, postgres};
use warren_testkit::{broker_settings, eventually, postgres_database, sql_value};

const WITHIN: Duration = Duration::from_secs(30);

async fn migrated() -> Pool {
    let mut settings: Settings = warren_testkit::settings(DEFAULTS);
    settings.broker = broker_settings(SERVICE, "unused");
    settings.postgres = postgres_database().await;
    // Building migrates the database; this instance never runs, nor connects to the broker.
    drop(build(settings.clone()).await.unwrap());
    postgres::pool(&settings.postgres).unwrap()
}

fn register(name: &str) -> Command {
    Command::Register {
        request: Uuid::now_v7(),
        name: UserName::parse(name).unwrap(),
        password_hash: password_hash(),
    }
}

/// A real Argon2id hash, made once.
fn password_hash() -> PasswordHash {
    static HASH: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        PasswordHash::parse(passwords::hash("correct horse battery").unwrap()).unwrap()
    })
    .clone()
}

/// Backends of this database waiting for a lock another transaction holds.
async fn waiting_for_a_lock(pool: &Pool) -> i64 {
    pool.get()
        .await
        .unwrap()
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Two instances take a registration of one new name at once: both read no user; the second
/// insert waits for the first transaction, finds the name taken, and decides again.
#[tokio::test]
async fn a_name_registered_by_a_concurrent_transaction_is_answered_taken() {
    let pool = migrated().await;
    let mut first = pool.get().await.unwrap();
    let first = first.transaction().await.unwrap();
    let registered = storage::decide(&first, &register("ada")).await.unwrap();
    assert_eq!(registered.verdict, Verdict::Answered(Answer::Registered));

    let second_pool = pool.clone();
    let second = register("ada");
    let second_request = second.request();
    let racing = tokio::spawn(async move {
        let mut client = second_pool.get().await.unwrap();
        let transaction = client.transaction().await.unwrap();
        let decision = storage::decide(&transaction, &second).await.unwrap();
        transaction.commit().await.unwrap();
        decision
    });
    assert!(
        eventually(WITHIN, || async { waiting_for_a_lock(&pool).await == 1 }).await,
        "the second registration did not wait for the first"
    );
    first.commit().await.unwrap();

    let taken = racing.await.unwrap();
    assert_eq!(taken.verdict, Verdict::Answered(Answer::NameTaken));
    let client = pool.get().await.unwrap();
    let users: i64 = sql_value(
        &client,
        "SELECT count(*) FROM users WHERE name = 'ada'",
        &[],
    )
    .await;
    assert_eq!(users, 1);
    let outcome: Option<String> = client
        .query_one(
            "SELECT outcome FROM requests WHERE request_id = $1",
            &[&second_request],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome.as_deref(), Some("name-taken"));
}

/// Decides `command` in a transaction of its own and commits it.
async fn decide(pool: &Pool, command: &Command) -> Verdict {
    let mut client = pool.get().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    let decision = storage::decide(&transaction, command).await.unwrap();
    transaction.commit().await.unwrap();
    decision.verdict
}

/// The same history as the property tests' `a_late_release_for_an_earlier_deletion_…`, in SQL.
#[tokio::test]
async fn a_late_release_for_an_earlier_deletion_frees_the_locker_of_the_name_registered_again() {
    let pool = migrated().await;
    let ada = UserName::parse("ada").unwrap();
    let a1 = LockerCode::parse("A-1").unwrap();
    let released = |request, code| Command::Released {
        request,
        user: ada.clone(),
        code,
    };
    decide(&pool, &register("ada")).await;
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    for request in [first, second] {
        let delete = Command::Delete {
            request,
            name: ada.clone(),
            actor: None,
        };
        assert_eq!(decide(&pool, &delete).await, Verdict::Forwarded);
    }
    let deleted = Verdict::Answered(Answer::Deleted);
    assert_eq!(decide(&pool, &released(first, None)).await, deleted);
    decide(&pool, &register("ada")).await;
    let want = Uuid::now_v7();
    let wanted = Command::Want {
        request: want,
        name: ada.clone(),
        actor: None,
    };
    assert_eq!(decide(&pool, &wanted).await, Verdict::Forwarded);
    let assigned = Command::Assigned {
        request: want,
        user: ada.clone(),
        code: a1.clone(),
    };
    decide(&pool, &assigned).await;

    // locker-service takes the second deletion's release only now, and frees A-1.
    assert_eq!(decide(&pool, &released(second, Some(a1))).await, deleted);
    let row = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT locker FROM users WHERE name = 'ada'", &[])
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0),
        None,
        "A-1 is free in locker-service"
    );
}
