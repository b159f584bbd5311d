//! Who sent a delivery, as the broker vouches for it, and whether that user may send its event.
//!
//! Every publisher sets the AMQP `user_id` property to its connection's broker user, and
//! RabbitMQ refuses a publish whose `user_id` is anyone else: a delivery's `user_id` names the
//! broker user that published it. Each event type has one producer (`topology::producer_of`);
//! a consumer dead-letters an event from anyone else, or from no one it can name.
//!
//! A consumer that moves a delivery to its retry or dead-letter queue publishes a copy as
//! itself, so the copy's `user_id` is the consumer's own user. It writes the sender it verified
//! into [`SENDER_HEADER`], and that header is believed only on a delivery whose `user_id` is the
//! queue's own consumer: nobody else can publish with that `user_id`, and the only way such a
//! copy reaches the queue is back from the retry queue (only the owner may write its queue's
//! name on `warren.retry`). On any other delivery the header is ignored.

use crate::topology::{ConsumerQueue, producer_of};

/// The verified sender of a delivery that a consumer moved to its retry or dead-letter queue.
pub(crate) const SENDER_HEADER: &str = "x-warren-sender";

/// The broker user that sent a delivery of `queue` with this `user_id` and sender header.
pub(crate) fn sender<'a>(
    queue: &ConsumerQueue,
    user_id: Option<&'a str>,
    sender_header: Option<&'a str>,
) -> Option<&'a str> {
    match user_id {
        Some(user) if user == queue.owner => sender_header.or(Some(user)),
        other => other,
    }
}

/// Whether `sender` may send `event_type`; the reason to dead-letter it otherwise.
pub(crate) fn check(event_type: &str, sender: Option<&str>) -> Result<(), String> {
    let Some(producer) = producer_of(event_type) else {
        return Err(format!("no service publishes {event_type}"));
    };
    match sender {
        Some(sender) if sender == producer => Ok(()),
        Some(sender) => Err(format!(
            "{event_type} may come only from {producer}, but {sender} sent it"
        )),
        None => Err(format!(
            "{event_type} carries no user_id, so its sender is unknown (it may come only from \
             {producer})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{LOCKER_SERVICE_LOCKERS, TALLY_VOTES};

    #[test]
    fn the_sender_is_the_user_id_and_the_header_counts_only_on_the_owners_own_copies() {
        assert_eq!(
            sender(&TALLY_VOTES, Some("vote-service"), None),
            Some("vote-service")
        );
        // A copy back from the retry queue: published by the consumer itself.
        assert_eq!(
            sender(&TALLY_VOTES, Some("tally-worker"), Some("vote-service")),
            Some("vote-service")
        );
        // Anyone else's header is theirs to write, and proves nothing.
        assert_eq!(
            sender(&TALLY_VOTES, Some("locker-app"), Some("vote-service")),
            Some("locker-app")
        );
        assert_eq!(sender(&TALLY_VOTES, None, Some("vote-service")), None);
    }

    #[test]
    fn only_an_event_types_producer_may_send_it() {
        assert_eq!(check("vote.cast", Some("vote-service")), Ok(()));
        let wrong = check("locker.requested", Some("locker-app")).unwrap_err();
        assert!(wrong.contains("only from user-service"), "{wrong}");
        assert!(wrong.contains("locker-app sent it"), "{wrong}");
        let unknown = check("locker.requested", None).unwrap_err();
        assert!(unknown.contains("no user_id"), "{unknown}");
        assert!(check("vote.other", Some("vote-service")).is_err());
        assert_eq!(
            sender(&LOCKER_SERVICE_LOCKERS, Some("locker-service"), None),
            Some("locker-service")
        );
    }
}
