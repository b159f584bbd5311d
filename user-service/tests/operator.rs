//! `warren-operator` against a fresh users database, as the binary runs in scripts/up and
//! Compose: logging in as user-service's role, migrating first, the password from the
//! environment or standard input. It creates the operator, changes nothing when run again with
//! the same password, sets a new one, promotes an existing member, and never prints or stores
//! a password.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use secrecy::ExposeSecret;
use tokio::io::AsyncWriteExt;
use tokio_postgres::Client;
use warren_manifest::{USER_SERVICE, USERS_DB};
use warren_service_kit::{passwords, postgres};
use warren_testkit::TestDatabase;

const BINARY: &str = env!("CARGO_BIN_EXE_warren-operator");

struct Run {
    success: bool,
    output: String,
}

/// Runs the binary against `database` with `arguments`, the password in the environment (or,
/// when `stdin` is given, none there and that on standard input).
async fn run(
    database: &TestDatabase,
    arguments: &[&str],
    env_password: Option<&str>,
    stdin: Option<&str>,
) -> Run {
    let settings = database.as_service(&USER_SERVICE);
    let mut command = tokio::process::Command::new(BINARY);
    command
        .args(arguments)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WARREN_POSTGRES__URL", settings.url.expose_secret())
        .env(
            "WARREN_POSTGRES__PASSWORD",
            settings.password.expose_secret(),
        )
        .env("WARREN_TELEMETRY__FORMAT", "json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = env_password {
        command.env("WARREN_OPERATOR_PASSWORD", password);
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .await
        .unwrap();
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    Run {
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

async fn admin(database: &TestDatabase) -> deadpool_postgres::Client {
    let pool = postgres::pool(&database.as_admin()).unwrap();
    pool.get().await.unwrap()
}

/// The user's stored hash and role.
async fn account(client: &Client, name: &str) -> Option<(Option<String>, String)> {
    client
        .query_opt(
            "SELECT password_hash, role FROM users WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .map(|row| (row.get(0), row.get(1)))
}

/// The requests recorded for `name`: kind, outcome, actor.
async fn requests(client: &Client, name: &str) -> Vec<(String, String, String)> {
    client
        .query(
            "SELECT kind, outcome, actor FROM requests WHERE name = $1 ORDER BY request_id",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

fn recorded(kind: &str, outcome: &str) -> (String, String, String) {
    (kind.into(), outcome.into(), "warren-operator".into())
}

#[tokio::test]
async fn creates_the_operator_then_changes_nothing_until_the_password_changes() {
    let database = TestDatabase::create(USERS_DB).await;
    let first = "first operator password";

    // From the environment, on a database nothing has migrated yet.
    let created = run(&database, &[], Some(first), None).await;
    assert!(created.success, "{}", created.output);
    assert!(
        created.output.contains("created the operator operator"),
        "{}",
        created.output
    );
    let db = admin(&database).await;
    let (hash, role) = account(&db, "operator").await.unwrap();
    let hash = hash.unwrap();
    assert_eq!(role, "operator");
    assert!(passwords::verify(first, &hash), "{hash}");
    assert_eq!(
        requests(&db, "operator").await,
        [recorded("register", "registered")]
    );

    // Again with the same password: nothing written, nothing recorded.
    let again = run(&database, &["--name", "operator"], Some(first), None).await;
    assert!(again.success, "{}", again.output);
    assert_eq!(account(&db, "operator").await.unwrap().0.unwrap(), hash);
    assert_eq!(requests(&db, "operator").await.len(), 1);

    // A new password, from standard input this time: set, and recorded.
    let second = "second operator password";
    let changed = run(&database, &[], None, Some(&format!("{second}\n"))).await;
    assert!(changed.success, "{}", changed.output);
    let (hash, role) = account(&db, "operator").await.unwrap();
    assert_eq!(role, "operator");
    assert!(passwords::verify(second, hash.as_deref().unwrap()));
    assert!(!passwords::verify(first, hash.as_deref().unwrap()));
    assert_eq!(
        requests(&db, "operator").await,
        [
            recorded("register", "registered"),
            recorded("promote", "already-operator")
        ]
    );
    for run in [&created, &again, &changed] {
        assert!(
            !run.output.contains(first) && !run.output.contains(second),
            "{}",
            run.output
        );
    }
}

#[tokio::test]
async fn an_existing_member_is_promoted_and_a_bad_password_or_argument_writes_nothing() {
    let database = TestDatabase::create(USERS_DB).await;
    // Migrated by a first run, then a member registered as user-service would.
    let boss = run(&database, &["--name=boss"], Some("boss password"), None).await;
    assert!(boss.success, "{}", boss.output);
    let db = admin(&database).await;
    db.execute(
        "INSERT INTO users (name, password_hash) VALUES ('ada', $1)",
        &[&passwords::hash("ada's password").unwrap()],
    )
    .await
    .unwrap();

    let promoted = run(
        &database,
        &["--name", "ada"],
        Some("ada's new password"),
        None,
    )
    .await;
    assert!(promoted.success, "{}", promoted.output);
    let (hash, role) = account(&db, "ada").await.unwrap();
    assert_eq!(role, "operator");
    assert!(passwords::verify("ada's new password", &hash.unwrap()));
    assert_eq!(
        requests(&db, "ada").await,
        [recorded("promote", "promoted")]
    );

    let short = run(&database, &["--name", "cy"], Some("s3cr3t!"), None).await;
    assert!(!short.success);
    assert!(
        short.output.contains("at least 8 characters") && !short.output.contains("s3cr3t!"),
        "{}",
        short.output
    );
    let argument = run(
        &database,
        &["--name", "cy", "--password", "in plain sight"],
        None,
        None,
    )
    .await;
    assert!(!argument.success);
    assert!(
        argument.output.contains("never taken from the arguments"),
        "{}",
        argument.output
    );
    let nothing = run(&database, &["--name", "cy"], None, Some("")).await;
    assert!(!nothing.success);
    assert!(
        nothing.output.contains("WARREN_OPERATOR_PASSWORD"),
        "{}",
        nothing.output
    );
    assert_eq!(account(&db, "cy").await, None);
}
