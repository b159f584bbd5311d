//! One event handler a file.

pub mod votes;
