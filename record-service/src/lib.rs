//! The weather recorder: looks up a city's current weather (Open-Meteo), records exactly what it
//! showed as an event, and projects record events into PostgreSQL, newest first, exactly once.

pub mod configuration;
pub mod consumers;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod weather;
