//! The records read model, which this service's projection writes and its pages read: its
//! rows and read queries are `warren_store_records`'.

pub use warren_store_records::{Record, exists, list, was_deleted};
