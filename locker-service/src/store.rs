//! The lockers read model, which this service alone writes: its documents, indexes and reads
//! are `warren_store_lockers`'.

pub use warren_store_lockers::*;
