//! Retired lockers are kept in the collection (for the record of who retired them) and left out
//! of the lockers list that readers show.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mongodb::bson::{DateTime, Document, doc};
use warren_store_lockers::{Locker, all_lockers, lockers_page};

#[tokio::test]
async fn the_lockers_list_leaves_retired_lockers_out_and_pages_past_them() {
    let settings = warren_testkit::mongo_database().await;
    let database = warren_service_kit::mongo::database(&settings, "test")
        .await
        .unwrap();
    warren_store_lockers::prepare(&database).await.unwrap();
    let locker = |code: &str, retired: bool| {
        let mut locker = doc! {
            "_id": code,
            "location": "Hall B",
            "added_at": DateTime::now(),
            "added_by": "test",
        };
        if retired {
            locker.insert("retired_by", "a retiring request");
            locker.insert("retired_at", DateTime::now());
        }
        locker
    };
    let lockers: Vec<Document> = [
        ("A-1", false),
        ("A-2", true),
        ("A-3", true),
        ("A-4", false),
        ("A-5", true),
    ]
    .into_iter()
    .map(|(code, retired)| locker(code, retired))
    .collect();
    database
        .collection::<Document>("lockers")
        .insert_many(lockers)
        .await
        .unwrap();

    let codes = |lockers: &[Locker]| -> Vec<String> {
        lockers.iter().map(|locker| locker.code.clone()).collect()
    };
    let first = lockers_page(&database, None, 1).await.unwrap();
    assert_eq!(codes(&first.items), ["A-1"]);
    let second = lockers_page(&database, first.next.as_deref(), 1)
        .await
        .unwrap();
    assert_eq!(codes(&second.items), ["A-4"]);
    assert_eq!(second.next, None, "only retired lockers follow");
    let all = lockers_page(&database, None, 10).await.unwrap();
    assert!(all.items.iter().all(|locker| !locker.retired()));

    // Kept, for the record.
    let kept = all_lockers(&database).await.unwrap();
    assert_eq!(kept.len(), 5);
    assert!(kept[1].retired() && kept[1].retired_at.is_some());
}
