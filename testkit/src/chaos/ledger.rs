//! The history: every attempt a client made, with what the client saw of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What became of one attempt, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The frontend answered success: the broker confirmed.
    Confirmed,
    /// Refused before anything was published (a 4xx).
    Failed,
    /// Not confirmed (a 503) or no answer: it may or may not have been published.
    Unknown,
}

impl Seen {
    /// What a frontend's answer says: 303 after a confirm, 4xx refused, anything else unknown.
    pub fn of(response: &Result<reqwest::Response, reqwest::Error>) -> Self {
        match response {
            Ok(response) if response.status() == 303 => Self::Confirmed,
            Ok(response) if response.status().is_client_error() => Self::Failed,
            _ => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attempt {
    /// Whose attempt: a voter id or a user name. One key's attempts are made one after another.
    pub key: String,
    /// What was asked: the option voted for, or the locker action.
    pub what: String,
    pub seen: Seen,
    /// When the answer came.
    pub at: Instant,
    /// How long the client waited for the answer.
    pub took: Duration,
    /// For locker requests: the status page to ask for the outcome.
    pub status: Option<String>,
}

#[derive(Default, Clone)]
pub struct Ledger(Arc<Mutex<Vec<Attempt>>>);

impl Ledger {
    pub fn record(&self, attempt: Attempt) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(attempt);
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
