//! PostgreSQL itself enforces least privilege (warren_manifest::postgres): each service logs in
//! as its own role, none of them privileged; an owner writes its own tables; a reader may only
//! `SELECT` the tables it reads; nobody may connect to another service's database. Each refusal
//! is asserted as PostgreSQL's `insufficient_privilege` (42501), so a test fails on a refusal
//! for another reason (a missing table, a bad statement) as well as on an allowed statement.
//!
//! The owners are started from their binaries, so the grants are those a deployment gets: the
//! owner migrates, then grants its readers (`Startup::owned_postgres`). The binaries are this
//! build's: `cargo build --workspace --features warren-messages/sabotage`.
#![allow(clippy::unwrap_used)]

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use warren_manifest::postgres::{owner_role, readers};
use warren_manifest::{
    DATABASES, Database, POSTGRES_USER, SERVICES, Service, TALLY_WORKER, VOTE_SERVICE, VOTES_DB,
};
use warren_service_kit::postgres::PostgresSettings;
use warren_testkit::services::{Process, Wiring};
use warren_testkit::{TestDatabase, sql_value};

/// What PostgreSQL said, for a failure message.
fn said(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}

async fn connect(settings: &PostgresSettings) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = settings.config().unwrap().connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// `result` is PostgreSQL's refusal for want of privilege.
fn assert_refused<T>(result: Result<T, tokio_postgres::Error>, what: &str) {
    match result {
        Ok(_) => panic!("{what} was allowed"),
        Err(error) => assert_eq!(
            error.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{what} failed, but not for want of privilege: {}",
            said(&error)
        ),
    }
}

fn assert_allowed<T>(result: Result<T, tokio_postgres::Error>, what: &str) {
    if let Err(error) = result {
        panic!("{what} was refused: {}", said(&error));
    }
}

/// Every service, its databases fresh, with the owners started (they migrate and grant).
async fn deployed() -> (Wiring, Vec<Process>) {
    let wiring = Wiring::fresh(SERVICES).await;
    let mut owners = Vec::new();
    for database in DATABASES {
        let owner = Service::named(database.owner).unwrap();
        owners.push(wiring.start(*owner).await);
    }
    (wiring, owners)
}

fn test_database(wiring: &Wiring, database: &Database) -> TestDatabase {
    wiring.postgres(*database).clone()
}

/// Statements that write or define something, each on `table` (whose first column is `column`).
fn writes(table: &str, column: &str) -> Vec<String> {
    vec![
        format!("INSERT INTO {table} DEFAULT VALUES"),
        format!("UPDATE {table} SET {column} = {column} WHERE false"),
        format!("DELETE FROM {table} WHERE false"),
        format!("TRUNCATE {table}"),
        format!("ALTER TABLE {table} ADD COLUMN intruder TEXT"),
        format!("CREATE INDEX ON {table} ({column})"),
    ]
}

async fn first_column(client: &Client, table: &str) -> String {
    sql_value(
        client,
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position LIMIT 1",
        &[&table],
    )
    .await
}

#[tokio::test]
async fn a_reader_may_select_the_tables_it_reads_and_nothing_else() {
    let (wiring, _owners) = deployed().await;
    let mut checked = 0;
    for database in DATABASES {
        let test = test_database(&wiring, database);
        for (reader, tables) in readers(database) {
            let client = connect(&test.as_service(reader)).await.unwrap();
            let name = reader.name;
            for table in tables {
                assert_allowed(
                    client
                        .simple_query(&format!("SELECT * FROM {table} LIMIT 1"))
                        .await,
                    &format!("{name}: SELECT on {table}"),
                );
                let column = first_column(&client, table).await;
                for statement in writes(table, &column) {
                    assert_refused(
                        client.batch_execute(&statement).await,
                        &format!("{name}: {statement}"),
                    );
                }
            }
            for table in database.tables.iter().filter(|t| !tables.contains(*t)) {
                assert_refused(
                    client
                        .batch_execute(&format!("SELECT * FROM {table} LIMIT 1"))
                        .await,
                    &format!("{name}: SELECT on {table}, which it does not read"),
                );
            }
            for statement in [
                "CREATE TABLE intruder (x INTEGER)",
                "CREATE TEMPORARY TABLE intruder (x INTEGER)",
                "CREATE SCHEMA intruder",
                "COPY (SELECT 1) TO PROGRAM 'true'",
                "COPY (SELECT 1) TO '/tmp/warren-intruder'",
                "SELECT pg_read_file('postgresql.conf')",
                "SET ROLE tally_worker",
            ] {
                assert_refused(
                    client.batch_execute(statement).await,
                    &format!("{name}: {statement}"),
                );
            }
            checked += 1;
        }
    }
    // Every reader of every database, as the manifest has them: vote-service (votes),
    // locker-app (users) and record-service (users, and the accounts).
    let readers_of_all: usize = DATABASES.iter().map(|d| readers(d).len()).sum();
    assert_eq!(checked, readers_of_all);
    assert_eq!(
        checked, 4,
        "vote-service, locker-app and record-service (twice) read"
    );
}

#[tokio::test]
async fn an_owner_writes_its_own_tables() {
    let (wiring, _owners) = deployed().await;
    for database in DATABASES {
        let owner = Service::named(database.owner).unwrap();
        let test = test_database(&wiring, database);
        let client = connect(&test.as_service(owner)).await.unwrap();
        for table in database.tables {
            let column = first_column(&client, table).await;
            for statement in [
                format!("UPDATE {table} SET {column} = {column} WHERE false"),
                format!("DELETE FROM {table} WHERE false"),
            ] {
                assert_allowed(
                    client.batch_execute(&statement).await,
                    &format!("{}: {statement}", owner.name),
                );
            }
        }
        // Every table is the owner's, none the administrator's.
        let admin = connect(&test.as_admin()).await.unwrap();
        let owners: Vec<String> = admin
            .query(
                "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(owners, [owner_role(database)], "{}", database.name);
        // And it cannot make itself more than it is.
        for statement in [
            "ALTER ROLE CURRENT_USER SUPERUSER".to_owned(),
            "COPY (SELECT 1) TO PROGRAM 'true'".to_owned(),
            "CREATE ROLE intruder".to_owned(),
            format!("CREATE DATABASE {}_intruder", test.name),
        ] {
            assert_refused(
                client.batch_execute(&statement).await,
                &format!("{}: {statement}", owner.name),
            );
        }
    }
}

#[tokio::test]
async fn no_service_may_connect_to_a_database_it_does_not_use() {
    let wiring = Wiring::fresh(SERVICES).await;
    let mut refused = 0;
    for service in SERVICES {
        if service.postgres.is_empty() {
            continue;
        }
        for database in DATABASES {
            let settings = test_database(&wiring, database).as_service(service);
            let connected = connect(&settings).await;
            if service.postgres_use(database).is_some() {
                assert_allowed(
                    connected,
                    &format!("{} connecting to {}", service.name, database.name),
                );
            } else {
                assert_refused(
                    connected,
                    &format!("{} connecting to {}", service.name, database.name),
                );
                refused += 1;
            }
        }
    }
    // Each role may connect to the databases it uses and no other.
    let uses: usize = SERVICES.iter().map(|s| s.postgres.len()).sum();
    let roles = SERVICES.iter().filter(|s| !s.postgres.is_empty()).count();
    assert_eq!(refused, roles * DATABASES.len() - uses);
    assert!(refused >= 10, "only {refused} connections were refused");
    // Nor the server's own databases.
    for service in SERVICES.iter().filter(|s| !s.postgres.is_empty()) {
        for name in ["postgres", "template1"] {
            let server = TestDatabase {
                database: DATABASES[0],
                name: name.to_owned(),
            };
            assert_refused(
                connect(&server.as_service(service)).await,
                &format!("{} connecting to {name}", service.name),
            );
        }
    }
}

#[tokio::test]
async fn no_role_is_privileged_and_the_administrator_is_nobody_s_login() {
    let wiring = Wiring::fresh(SERVICES).await;
    let admin = connect(&test_database(&wiring, &DATABASES[0]).as_admin())
        .await
        .unwrap();
    let roles: Vec<String> = warren_manifest::postgres::services_with_roles()
        .filter_map(Service::postgres_role)
        .collect();
    let rows = admin
        .query(
            "SELECT rolname::text, rolsuper, rolcreatedb, rolcreaterole, rolreplication, \
             rolbypassrls, rolcanlogin, \
             (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) \
             FROM pg_roles r WHERE rolname = ANY($1) ORDER BY rolname",
            &[&roles],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), roles.len(), "every service has its role");
    for row in rows {
        let role: String = row.get(0);
        let flags: Vec<bool> = (1..=5).map(|i| row.get(i)).collect();
        assert_eq!(
            flags, [false; 5],
            "{role}: super, createdb, createrole, replication, bypassrls"
        );
        assert!(row.get::<_, bool>(6), "{role} can log in");
        assert_eq!(row.get::<_, i64>(7), 0, "{role} is a member of no role");
    }
    for service in SERVICES {
        for variable in service.environment() {
            if let warren_manifest::Value::PostgresUrl { user, .. } = variable.value {
                assert_ne!(user, POSTGRES_USER, "{}", service.name);
            }
        }
    }
}

/// A database an earlier Warren made (owned by the administrator, its tables created by the
/// administrator) passes whole to its owner's role when the setup runs on it.
#[tokio::test]
async fn the_setup_hands_an_earlier_database_to_its_owner() {
    let scratch = warren_testkit::postgres_database().await;
    let admin = connect(&scratch).await.unwrap();
    admin
        .batch_execute(
            "CREATE TABLE votes (voter TEXT PRIMARY KEY); CREATE TABLE applied_messages (id TEXT)",
        )
        .await
        .unwrap();
    let name = scratch.database();
    let setup = warren_manifest::postgres::database_setup(&VOTES_DB, &name);
    let mut server_settings = scratch.clone();
    let url = secrecy::ExposeSecret::expose_secret(&scratch.url).to_owned();
    let (base, _) = url.rsplit_once('/').unwrap();
    server_settings.url = format!("{base}/postgres").into();
    let server = connect(&server_settings).await.unwrap();
    for statement in &setup.on_server {
        server.batch_execute(statement).await.unwrap();
    }
    for statement in &setup.inside {
        admin.batch_execute(statement).await.unwrap();
    }
    let owners: Vec<String> = admin
        .query(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(owners, ["tally_worker", "tally_worker"]);
    let database_owner: String = sql_value(
        &admin,
        "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()",
        &[],
    )
    .await;
    assert_eq!(database_owner, "tally_worker");
    // The owner writes it now; its reader connects, and reads once the owner has granted it.
    let test = TestDatabase {
        database: VOTES_DB,
        name,
    };
    let owner = connect(&test.as_service(&TALLY_WORKER)).await.unwrap();
    assert_allowed(
        owner.batch_execute("DELETE FROM votes WHERE false").await,
        "tally-worker: DELETE on the votes it now owns",
    );
    let reader = connect(&test.as_service(&VOTE_SERVICE)).await.unwrap();
    assert_refused(
        reader.batch_execute("SELECT * FROM votes").await,
        "vote-service: SELECT before the owner granted it",
    );
}
