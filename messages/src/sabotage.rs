//! Deliberate faults, one guarantee at a time, so that the chaos checker can be shown to catch
//! each of them (`scripts/chaos --self-test`; a fast subset in `scripts/test`).
//!
//! The switch is the `WARREN_SABOTAGE` environment variable, and it is honoured only by builds
//! with this crate's `sabotage` cargo feature: `scripts/test` and the self-test build with it;
//! `scripts/up`, `scripts/chaos` and the container images never do, and there
//! [`active`] is a constant `false` that the compiler removes.

/// A guarantee to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// `exactly_once::claim` claims nothing and reports every message as new, so a redelivered
    /// message applies again.
    SkipClaim,
    /// The consumer runner acknowledges each delivery as it arrives, before the handler's
    /// commit, so a crash loses what was in flight.
    AckBeforeCommit,
    /// tally-worker claims the first vote it is handed and never stores it.
    DropVote,
    /// locker-service assigns a locker without checking that it is free.
    SkipHolderCheck,
}

impl Sabotage {
    pub const ALL: [Self; 4] = [
        Self::SkipClaim,
        Self::AckBeforeCommit,
        Self::DropVote,
        Self::SkipHolderCheck,
    ];

    /// The value of `WARREN_SABOTAGE` that selects it.
    pub fn name(self) -> &'static str {
        match self {
            Self::SkipClaim => "skip-claim",
            Self::AckBeforeCommit => "ack-before-commit",
            Self::DropVote => "drop-vote",
            Self::SkipHolderCheck => "skip-holder-check",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|sabotage| sabotage.name() == name)
    }
}

/// Whether `sabotage` is switched on for this process.
#[cfg(feature = "sabotage")]
pub fn active(sabotage: Sabotage) -> bool {
    static CHOSEN: std::sync::OnceLock<Option<Sabotage>> = std::sync::OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| {
        let name = std::env::var("WARREN_SABOTAGE").ok()?;
        let chosen = Sabotage::parse(&name);
        match chosen {
            Some(chosen) => {
                tracing::warn!(sabotage = chosen.name(), "a guarantee is broken on purpose")
            }
            None => tracing::error!(name, "WARREN_SABOTAGE names no sabotage"),
        }
        chosen
    });
    *chosen == Some(sabotage)
}

/// Whether `sabotage` is switched on for this process: never, in a build without the feature.
#[cfg(not(feature = "sabotage"))]
pub fn active(_sabotage: Sabotage) -> bool {
    false
}
