//! The locker booking frontend: web forms that publish user and locker events and show their outcomes.

pub mod configuration;
pub mod startup;
