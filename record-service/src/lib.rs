//! The weather recorder: looks up a city's current weather (Open-Meteo), records exactly what it
//! showed as an event, and projects record events into PostgreSQL, newest first, exactly once.
//! Anyone may record; only an operator of locker-app's accounts may delete (`operators`).

pub mod configuration;
pub mod consumers;
pub mod operators;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod weather;
