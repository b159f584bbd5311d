//! The databases scripts/test starts answer through the clients every service uses.
#![allow(clippy::unwrap_used)]

use mongodb::bson::{Document, doc};
use warren_service_kit::{mongo, postgres};
use warren_testkit::sql_value;

#[tokio::test]
async fn postgres_stores_and_returns_a_row() {
    let settings = warren_testkit::postgres_database().await;
    let pool = postgres::pool(&settings).unwrap();
    postgres::ping(&pool).await.unwrap();
    let client = pool.get().await.unwrap();
    client
        .batch_execute("CREATE TABLE probe (id INT PRIMARY KEY, name TEXT NOT NULL)")
        .await
        .unwrap();
    client
        .execute("INSERT INTO probe VALUES ($1, $2)", &[&1_i32, &"warren"])
        .await
        .unwrap();
    let row = client
        .query_one("SELECT name FROM probe WHERE id = $1", &[&1_i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "warren");
}

#[tokio::test]
async fn postgres_applies_migrations_once() {
    let settings = warren_testkit::postgres_database().await;
    let pool = postgres::pool(&settings).unwrap();
    let migrations = || refinery::Runner::new(&warren_messages::exactly_once::migrations());
    postgres::migrate(&pool, migrations()).await.unwrap();
    postgres::migrate(&pool, migrations()).await.unwrap();
    let client = pool.get().await.unwrap();
    let applied: i64 =
        sql_value(&client, "SELECT count(*) FROM refinery_schema_history", &[]).await;
    assert_eq!(applied, 1);
}

#[tokio::test]
async fn the_mongodb_server_stores_and_returns_a_document() {
    let settings = warren_testkit::mongo_database().await;
    let database = mongo::database(&settings, "databases-test").await.unwrap();
    mongo::ping(&database).await.unwrap();
    let lockers = database.collection::<Document>("lockers");
    lockers
        .insert_one(doc! { "_id": "L1", "free": true })
        .await
        .unwrap();
    let found = lockers
        .find_one(doc! { "_id": "L1" })
        .await
        .unwrap()
        .unwrap();
    assert!(found.get_bool("free").unwrap());
}
