//! Received QoS 2 messages between their PUBLISH and the broker's PUBREL (MQTT 4.3.3,
//! method B): a packet id held here was handed to the dispatcher once, so a PUBLISH
//! the broker sends again with that id (it lost our PUBREC, and resends after a
//! reconnect) is answered, not handled twice. The PUBREL releases the id.

use std::collections::HashSet;
use std::sync::Mutex;

/// The packet ids of received QoS 2 messages not yet released.
#[derive(Debug, Default)]
pub(crate) struct InboundQos2 {
    awaiting_release: Mutex<HashSet<u16>>,
}

impl InboundQos2 {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<u16>> {
        self.awaiting_release
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A QoS 2 PUBLISH with `pkid` arrived: true the first time (hand it over), false
    /// while the id awaits its PUBREL (a resend: answer it, do not handle it again).
    pub(crate) fn received(&self, pkid: u16) -> bool {
        self.ids().insert(pkid)
    }

    /// The broker's PUBREL for `pkid`: the id is free again. False when no message held
    /// it (answered all the same: the PUBCOMP of an earlier PUBREL may have been lost).
    pub(crate) fn released(&self, pkid: u16) -> bool {
        self.ids().remove(&pkid)
    }

    /// A new connection: a clean session starts with no message awaiting release; a
    /// session the broker kept keeps them.
    pub(crate) fn on_connected(&self, session_present: bool) {
        if !session_present {
            self.ids().clear();
        }
    }

    /// Ids awaiting their PUBREL.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resent_qos2_publish_is_not_handed_over_until_its_release() {
        let qos2 = InboundQos2::default();
        assert!(qos2.received(7), "the first PUBLISH is handed over");
        assert!(!qos2.received(7), "a resend before PUBREL is not");
        assert!(qos2.released(7));
        assert!(qos2.received(7), "after PUBREL the id is a new message");
        assert!(!qos2.released(8), "a PUBREL of no held id is told apart");
    }

    #[test]
    fn a_kept_session_keeps_the_ids_and_a_new_one_forgets_them() {
        let qos2 = InboundQos2::default();
        qos2.received(1);
        qos2.received(2);
        qos2.on_connected(true);
        assert_eq!(qos2.len(), 2);
        qos2.on_connected(false);
        assert_eq!(qos2.len(), 0);
    }
}
