//! Projects vote events into the PostgreSQL tally: each vote applied once, the latest by its
//! own time winning, however deliveries are duplicated or reordered. It is the only writer of
//! votes; it serves no pages.

pub mod configuration;
pub mod consumers;
pub mod startup;
