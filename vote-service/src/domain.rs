//! The poll: its question and options, validated at start.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PollOption {
    /// What the form posts: `a`, `b`, `c`, ... in the configured order.
    pub key: String,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct Poll {
    pub id: String,
    pub question: String,
    pub options: Vec<PollOption>,
}

const MAX_LABEL: usize = 60;

impl Poll {
    /// A poll from settings; fails naming what is wrong.
    pub fn new(id: &str, question: &str, labels: &[String]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "poll.id must be 1 to 64 letters, digits, '-' or '_'"
        );
        anyhow::ensure!(labels.len() >= 2, "poll.options needs at least two options");
        anyhow::ensure!(labels.len() <= 26, "poll.options has more than 26 options");
        let options = labels
            .iter()
            .zip('a'..='z')
            .map(|(label, key)| {
                let label = label.trim();
                anyhow::ensure!(
                    !label.is_empty()
                        && label.chars().count() <= MAX_LABEL
                        && !label.chars().any(char::is_control),
                    "poll.options: {label:?} must be 1 to {MAX_LABEL} printable characters"
                );
                Ok(PollOption {
                    key: key.to_string(),
                    label: label.to_owned(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            id: id.to_owned(),
            question: question.to_owned(),
            options,
        })
    }

    pub fn option(&self, key: &str) -> Option<&PollOption> {
        self.options.iter().find(|option| option.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn options_are_keyed_a_b_c_in_order() {
        let poll = Poll::new("default", "?", &labels(&["Cats", "Dogs", "Fish"])).unwrap();
        let keys: Vec<&str> = poll.options.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(poll.option("b").unwrap().label, "Dogs");
        assert!(poll.option("d").is_none());
    }

    #[test]
    fn a_poll_needs_two_printable_options() {
        assert!(Poll::new("default", "?", &labels(&["Cats"])).is_err());
        assert!(Poll::new("default", "?", &labels(&["Cats", ""])).is_err());
        assert!(Poll::new("default", "?", &labels(&["Cats", "Do\u{7}gs"])).is_err());
        assert!(Poll::new("bad id", "?", &labels(&["Cats", "Dogs"])).is_err());
    }
}
