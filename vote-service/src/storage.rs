//! The tally as the results show it, from the counts in the votes read model (which
//! tally-worker writes and vote-service only reads).

use deadpool_postgres::Pool;
use serde::Serialize;

use crate::domain::Poll;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OptionTally {
    pub key: String,
    pub label: String,
    pub votes: i64,
    /// Rounded to one decimal; 0 when nobody has voted.
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tally {
    pub poll: String,
    pub question: String,
    pub total: i64,
    pub options: Vec<OptionTally>,
}

impl Tally {
    /// "No votes yet", "1 vote" or "N votes".
    pub fn summary(&self) -> String {
        match self.total {
            0 => "No votes yet".to_owned(),
            1 => "1 vote".to_owned(),
            n => format!("{n} votes"),
        }
    }
}

/// The tally of `poll`, in the configured order and with the configured labels.
pub async fn tally(pool: &Pool, poll: &Poll) -> anyhow::Result<Tally> {
    let counts = warren_store_votes::counts(pool, &poll.id).await?;
    let counted = |key: &str| {
        counts
            .iter()
            .find(|count| count.option == key)
            .map_or(0, |count| count.votes)
    };
    let total: i64 = poll.options.iter().map(|option| counted(&option.key)).sum();
    let options = poll
        .options
        .iter()
        .map(|option| {
            let votes = counted(&option.key);
            let percent = if total == 0 {
                0.0
            } else {
                (votes as f64 * 1000.0 / total as f64).round() / 10.0
            };
            OptionTally {
                key: option.key.clone(),
                label: option.label.clone(),
                votes,
                percent,
            }
        })
        .collect();
    Ok(Tally {
        poll: poll.id.clone(),
        question: poll.question.clone(),
        total,
        options,
    })
}
