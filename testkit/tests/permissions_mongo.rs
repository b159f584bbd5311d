//! MongoDB's users, enforced by the server: locker-service (the owner of the lockers' database)
//! reads and writes that database and no other, locker-app only reads it, and nobody gets in
//! without logging in. Each test database holds the users the infrastructure gives the real one
//! (`mongo/users.json`), so these are the users the services run as.
//!
//! SecantusDB checks no privilege on `bulkWrite` (MongoDB 8's client-level bulk command), so the
//! refusals are asserted on the commands Warren's code sends: insert, update, delete,
//! findAndModify, createIndexes and drop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mongodb::bson::{Document, doc};
use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::{Collection, IndexModel};
use warren_manifest::{LOCKER_APP, LOCKER_SERVICE};
use warren_service_kit::mongo::{self, MongoSettings};
use warren_testkit::{mongo_as, mongo_database};

/// MongoDB's code for a command the user has no privilege for.
const UNAUTHORIZED: i32 = 13;

async fn lockers(settings: &MongoSettings) -> Collection<Document> {
    mongo::database(settings, "permissions-test")
        .await
        .unwrap()
        .collection("lockers")
}

/// The server's error code, for a refused command or write.
fn code(error: &Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        ErrorKind::Write(WriteFailure::WriteError(write)) => Some(write.code),
        _ => None,
    }
}

fn assert_refused<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Ok(answer) => panic!("{what} was allowed: {answer:?}"),
        Err(error) => assert_eq!(code(&error), Some(UNAUTHORIZED), "{what}: {error}"),
    }
}

#[tokio::test]
async fn locker_app_reads_the_lockers_and_every_write_is_refused() {
    let owner = mongo_database().await;
    let written = lockers(&owner).await;
    written
        .insert_one(doc! { "_id": "A-1", "location": "hall" })
        .await
        .unwrap();
    let reader = lockers(&mongo_as(&owner, &LOCKER_APP)).await;

    let found = reader.find_one(doc! { "_id": "A-1" }).await.unwrap();
    assert_eq!(found, Some(doc! { "_id": "A-1", "location": "hall" }));
    assert_eq!(reader.count_documents(doc! {}).await.unwrap(), 1);

    let one = doc! { "_id": "A-1" };
    let set = doc! { "$set": { "holder": "mallory" } };
    assert_refused("insert", reader.insert_one(doc! { "_id": "A-2" }).await);
    assert_refused("update", reader.update_one(one.clone(), set.clone()).await);
    assert_refused(
        "findAndModify",
        reader.find_one_and_update(one.clone(), set).await,
    );
    assert_refused("delete", reader.delete_one(one.clone()).await);
    assert_refused(
        "createIndexes",
        reader
            .create_index(IndexModel::builder().keys(doc! { "holder": 1 }).build())
            .await,
    );
    assert_refused("drop", reader.drop().await);

    let unchanged = written.find(doc! {}).await.unwrap();
    let unchanged: Vec<Document> = futures::TryStreamExt::try_collect(unchanged).await.unwrap();
    assert_eq!(unchanged, [doc! { "_id": "A-1", "location": "hall" }]);
}

#[tokio::test]
async fn locker_service_writes_its_own_database_and_cannot_touch_another() {
    let own = mongo_database().await;
    assert_eq!(own.username, LOCKER_SERVICE.name);
    let writer = lockers(&own).await;
    writer
        .create_index(
            IndexModel::builder()
                .keys(doc! { "holder": 1 })
                .options(
                    mongodb::options::IndexOptions::builder()
                        .unique(true)
                        .sparse(true)
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    writer.insert_one(doc! { "_id": "B-1" }).await.unwrap();
    writer
        .update_one(doc! { "_id": "B-1" }, doc! { "$set": { "holder": "ann" } })
        .await
        .unwrap();
    let held = writer.find_one(doc! { "holder": "ann" }).await.unwrap();
    assert_eq!(held, Some(doc! { "_id": "B-1", "holder": "ann" }));
    assert_eq!(
        writer
            .delete_one(doc! { "_id": "B-1" })
            .await
            .unwrap()
            .deleted_count,
        1
    );

    // Another database (another test's, say) through the same login: nothing at all.
    let other = mongo_database().await;
    lockers(&other)
        .await
        .insert_one(doc! { "_id": "C-1" })
        .await
        .unwrap();
    let client = mongo::database(&own, "permissions-test")
        .await
        .unwrap()
        .client()
        .clone();
    let foreign: Collection<Document> = client.database(&other.database).collection("lockers");
    assert_refused(
        "insert elsewhere",
        foreign.insert_one(doc! { "_id": "C-2" }).await,
    );
    assert_refused(
        "update elsewhere",
        foreign
            .update_one(doc! { "_id": "C-1" }, doc! { "$set": { "holder": "x" } })
            .await,
    );
    assert_refused(
        "delete elsewhere",
        foreign.delete_one(doc! { "_id": "C-1" }).await,
    );
    assert_refused("drop elsewhere", foreign.drop().await);
    assert_refused("read elsewhere", foreign.find_one(doc! {}).await);
}

#[tokio::test]
async fn nobody_gets_in_without_logging_in_or_with_a_wrong_password() {
    let owner = mongo_database().await;
    lockers(&owner)
        .await
        .insert_one(doc! { "_id": "D-1" })
        .await
        .unwrap();

    let mut anonymous = owner.clone();
    anonymous.username = String::new();
    assert_refused(
        "a read without logging in",
        lockers(&anonymous).await.find_one(doc! {}).await,
    );

    let mut wrong = owner.clone();
    wrong.password = "not-the-password".to_owned().into();
    let error = lockers(&wrong)
        .await
        .find_one(doc! {})
        .await
        .expect_err("a wrong password logged in");
    assert!(
        matches!(error.kind.as_ref(), ErrorKind::Authentication { .. }),
        "{error}"
    );

    // A user of one database is no user of another: locker-app's login on this database
    // works, the same name and password against the administrators' database do not.
    let mut elsewhere = mongo_as(&owner, &LOCKER_APP);
    elsewhere.database = "admin".to_owned();
    let error = lockers(&elsewhere)
        .await
        .find_one(doc! {})
        .await
        .expect_err("a user logged in to a database it is not defined in");
    assert!(
        matches!(error.kind.as_ref(), ErrorKind::Authentication { .. }),
        "{error}"
    );
}
