//! The instance's clock: the system clock shifted by `clock.offset_ms`, so that tests (and an
//! operator checking a deployment) can run instances whose clocks disagree, as real machines'
//! do. Votes carry this time as `occurred_at`; their order comes from the voter (see
//! `voter_log`), so a skewed instance cannot make a voter's later vote lose.

use std::time::Duration;

use warren_messages::Envelope;

/// The largest offset accepted: far more than any test needs, and safe from overflow.
const MAX_OFFSET_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_ms: i64,
}

impl Clock {
    pub fn with_offset_ms(offset_ms: i64) -> anyhow::Result<Self> {
        anyhow::ensure!(
            offset_ms.abs() <= MAX_OFFSET_MS,
            "clock.offset_ms must be within ±{MAX_OFFSET_MS} (one day)"
        );
        Ok(Self { offset_ms })
    }

    /// Shifts the new `envelope`'s `occurred_at` (the system's time) to this clock's, and
    /// returns it in milliseconds since the Unix epoch (0 before it).
    pub fn stamp<E>(&self, envelope: &mut Envelope<E>) -> u64 {
        let shift = Duration::from_millis(self.offset_ms.unsigned_abs());
        envelope.occurred_at = if self.offset_ms >= 0 {
            envelope.occurred_at + shift
        } else {
            envelope.occurred_at - shift
        };
        u64::try_from(envelope.occurred_at.timestamp_millis()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_messages::events::votes::VoteCast;

    fn stamped(offset_ms: i64) -> u64 {
        let mut envelope = Envelope::new(
            "test",
            VoteCast {
                poll: "default".into(),
                voter_id: uuid::Uuid::new_v4(),
                option: "a".into(),
            },
        );
        let ms = Clock::with_offset_ms(offset_ms)
            .unwrap()
            .stamp(&mut envelope);
        assert_eq!(ms as i64, envelope.occurred_at.timestamp_millis());
        ms
    }

    #[test]
    fn the_offset_shifts_the_stamped_time() {
        let gap = stamped(10_000) - stamped(-10_000);
        assert!((20_000..21_000).contains(&gap), "{gap}");
    }

    #[test]
    fn an_offset_beyond_a_day_is_refused() {
        assert!(Clock::with_offset_ms(86_400_001).is_err());
        assert!(Clock::with_offset_ms(-86_400_000).is_ok());
    }
}
