//! Every QoS 1/2 publish from the moment the writer takes it until the broker
//! acknowledged it, across connections: packet ids, the in-flight window, and what a
//! failed connection leaves to send again.
//!
//! When a connection fails, the publishes it had in flight are kept, in the order they
//! were first sent, and go out first on the next connection (with fresh packet ids,
//! whatever the session type: a clean session forgets them on the broker's side).
//! A QoS 2 publish whose PUBREC arrived is the broker's already and is not sent again.
//! The outbox holds at most the in-flight window plus the few control publishes (health,
//! manifest) that may exceed it; what waits beyond that stays in the bounded data lane.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use super::wire::{Delivery, PublishPacket, Receipt};
use crate::QoS;

/// Where an in-flight publish is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Published,
    /// QoS 2: PUBREC received, PUBREL sent; waiting for PUBCOMP.
    Released,
}

#[derive(Debug)]
struct InFlight {
    order: u64,
    stage: Stage,
    /// MQTT 5: the PUBREC said no subscription matched (told at the PUBCOMP).
    no_subscribers: bool,
    publish: PublishPacket,
    /// Presence (health, manifest): the next connection announces anew, so an
    /// unacknowledged one is not sent again (it would name the old broker).
    superseded_on_reconnect: bool,
}

/// The outbound half of the session.
#[derive(Debug)]
pub(crate) struct Outbox {
    window: usize,
    /// The most QoS 2 publishes in flight at once (within `window`).
    qos2_window: usize,
    /// QoS 2 publishes in flight.
    qos2_in_flight: usize,
    last_pkid: u16,
    order: u64,
    in_flight: BTreeMap<u16, InFlight>,
    /// Kept from a failed connection, first out on the next one.
    kept: VecDeque<PublishPacket>,
    /// Durable publishes the broker is done with, for the writer to report.
    done_durable: DurableDone,
}

/// Durable publishes the broker is done with: the writer lets the durable outbox drop
/// them, then tells their waiting publishers, so that a confirmed publish is no longer
/// in the durable outbox when its publisher hears of it.
#[derive(Debug, Default)]
pub(crate) struct DurableDone {
    /// Their sequence numbers in the durable outbox.
    pub(crate) seqs: Vec<u64>,
    /// The news owed to the publishers waiting on some of them.
    untold: Vec<(Receipt, Delivery)>,
}

impl DurableDone {
    /// Tells every waiting publisher; call once the durable outbox has dropped them.
    pub(crate) fn tell(self) {
        for (receipt, delivery) in self.untold {
            receipt.deliver(delivery);
        }
    }
}

impl Outbox {
    /// An outbox that keeps at most `window` data publishes in flight, of which at
    /// most `qos2_window` at QoS 2.
    pub(crate) fn new(window: usize, qos2_window: usize) -> Self {
        Self {
            window: window.max(1),
            qos2_window: qos2_window.max(1),
            qos2_in_flight: 0,
            last_pkid: 0,
            order: 0,
            in_flight: BTreeMap::new(),
            kept: VecDeque::new(),
            done_durable: DurableDone::default(),
        }
    }

    /// Narrows or widens the windows (to what the broker grants on a new connection).
    pub(crate) fn set_window(&mut self, window: usize, qos2_window: usize) {
        self.window = window.max(1);
        self.qos2_window = qos2_window.max(1);
    }

    /// Whether `publish` must wait: a QoS 2 one while the QoS 2 window is full.
    pub(crate) fn must_wait(&self, publish: &PublishPacket) -> bool {
        publish.qos == QoS::ExactlyOnce && self.qos2_in_flight >= self.qos2_window
    }

    /// Whether another data publish may be sent now.
    pub(crate) fn has_room(&self) -> bool {
        self.in_flight.len() < self.window
    }

    /// The next kept publish, if the window has room for it.
    pub(crate) fn next_kept(&mut self) -> Option<PublishPacket> {
        match self.kept.front() {
            Some(next) if self.has_room() && !self.must_wait(next) => self.kept.pop_front(),
            _ => None,
        }
    }

    /// Keeps a publish that cannot go now (no connection, or a full QoS 2 window) for
    /// when it can; the data lane waits behind it, so the order holds.
    pub(crate) fn keep(&mut self, mut publish: PublishPacket) {
        publish.pkid = 0;
        self.kept.push_back(publish);
    }

    /// Whether publishes of a failed connection still wait to be sent.
    pub(crate) fn has_kept(&self) -> bool {
        !self.kept.is_empty()
    }

    /// Publishes sent and not acknowledged yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Publishes in flight or kept for the next connection.
    pub(crate) fn len(&self) -> usize {
        self.in_flight.len() + self.kept.len()
    }

    /// Nothing in flight and nothing kept.
    pub(crate) fn is_empty(&self) -> bool {
        self.in_flight.is_empty() && self.kept.is_empty()
    }

    /// Assigns a free packet id to a QoS 1/2 publish about to be written and keeps a
    /// copy until it is acknowledged. QoS 0 passes untouched.
    pub(crate) fn track(&mut self, publish: &mut PublishPacket) {
        self.track_as(publish, false);
    }

    /// Tracks a presence publish (health, manifest): like [`Outbox::track`], but not
    /// kept when the connection fails, since every connection announces presence anew.
    pub(crate) fn track_presence(&mut self, publish: &mut PublishPacket) {
        self.track_as(publish, true);
    }

    fn track_as(&mut self, publish: &mut PublishPacket, superseded_on_reconnect: bool) {
        if publish.qos == QoS::AtMostOnce {
            return;
        }
        publish.pkid = self.free_pkid();
        self.order += 1;
        if publish.qos == QoS::ExactlyOnce {
            self.qos2_in_flight += 1;
        }
        self.in_flight.insert(
            publish.pkid,
            InFlight {
                order: self.order,
                stage: Stage::Published,
                no_subscribers: false,
                publish: publish.clone(),
                superseded_on_reconnect,
            },
        );
    }

    fn free_pkid(&mut self) -> u16 {
        // At most window + a few control publishes are in flight, far below 65,535.
        loop {
            self.last_pkid = self.last_pkid.checked_add(1).unwrap_or(1);
            if !self.in_flight.contains_key(&self.last_pkid) {
                return self.last_pkid;
            }
        }
    }

    /// PUBACK: a QoS 1 publish is delivered (under MQTT 5 perhaps to no subscriber),
    /// counted in `answered`. False for an unknown packet id.
    pub(crate) fn on_puback(
        &mut self,
        pkid: u16,
        no_subscribers: bool,
        answered: &AtomicU64,
    ) -> bool {
        self.complete(pkid, answered, |_| match no_subscribers {
            true => Delivery::NoSubscribers,
            false => Delivery::Acknowledged,
        })
    }

    /// MQTT 5: a PUBACK or PUBREC with a refusal; the publish is done with, not
    /// delivered, counted in `refused`. False for an unknown packet id.
    pub(crate) fn on_refused(&mut self, pkid: u16, reason: String, refused: &AtomicU64) -> bool {
        self.complete(pkid, refused, |_| Delivery::Refused(reason))
    }

    /// The broker is done with the publish: it is counted, then its waiting publisher
    /// is told how (`outcome`), so that one who reads the counters next sees it; for a
    /// durable publish, once the writer has let the durable outbox drop it.
    fn complete(
        &mut self,
        pkid: u16,
        counter: &AtomicU64,
        outcome: impl FnOnce(&InFlight) -> Delivery,
    ) -> bool {
        let Some(mut entry) = self.in_flight.remove(&pkid) else {
            return false;
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if entry.publish.qos == QoS::ExactlyOnce {
            self.qos2_in_flight -= 1;
        }
        let told = entry.publish.receipt.take().map(|r| (r, outcome(&entry)));
        match (entry.publish.durable, told) {
            (Some(seq), told) => {
                self.done_durable.seqs.push(seq.get());
                self.done_durable.untold.extend(told);
            }
            (None, Some((receipt, delivery))) => receipt.deliver(delivery),
            (None, None) => {}
        }
        true
    }

    /// The durable outbox's publishes the broker is done with since the last call.
    pub(crate) fn take_done_durable(&mut self) -> Option<DurableDone> {
        (!self.done_durable.seqs.is_empty()).then(|| std::mem::take(&mut self.done_durable))
    }

    /// PUBREC: the broker has a QoS 2 publish; a PUBREL is owed. False for an unknown
    /// packet id (a PUBREL is owed all the same, so the broker can finish).
    pub(crate) fn on_pubrec(&mut self, pkid: u16, no_subscribers: bool) -> bool {
        match self.in_flight.get_mut(&pkid) {
            Some(entry) => {
                entry.stage = Stage::Released;
                entry.no_subscribers = no_subscribers;
                entry.publish.payload = bytes::Bytes::new();
                true
            }
            None => false,
        }
    }

    /// PUBCOMP: a QoS 2 publish is complete, counted in `answered`.
    pub(crate) fn on_pubcomp(&mut self, pkid: u16, answered: &AtomicU64) -> bool {
        self.complete(pkid, answered, |entry| match entry.no_subscribers {
            true => Delivery::NoSubscribers,
            false => Delivery::Acknowledged,
        })
    }

    /// The connection failed: unacknowledged publishes are kept for the next one, in
    /// the order they were first sent, ahead of any kept earlier and not sent since.
    /// Returns how many are kept.
    pub(crate) fn on_connection_lost(&mut self) -> usize {
        self.qos2_in_flight = 0;
        let mut unacked: Vec<InFlight> = std::mem::take(&mut self.in_flight)
            .into_values()
            .filter(|entry| entry.stage == Stage::Published && !entry.superseded_on_reconnect)
            .collect();
        unacked.sort_by_key(|entry| entry.order);
        for entry in unacked.into_iter().rev() {
            let mut publish = entry.publish;
            publish.pkid = 0;
            publish.dup = false;
            self.kept.push_front(publish);
        }
        self.kept.len()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn publish(n: u8, qos: QoS) -> PublishPacket {
        PublishPacket::new(&format!("t/{n}"), qos, false, Bytes::from(vec![n]))
    }

    /// A QoS 1 publish whose publisher waits on the returned receipt.
    fn awaited() -> (PublishPacket, Receipt) {
        let receipt = Receipt::default();
        let mut p = publish(1, QoS::AtLeastOnce);
        p.receipt = Some(receipt.clone());
        (p, receipt)
    }

    fn sent(outbox: &mut Outbox, n: u8, qos: QoS) -> u16 {
        let mut p = publish(n, qos);
        outbox.track(&mut p);
        p.pkid
    }

    #[test]
    fn packet_ids_are_never_zero_and_never_in_use() {
        let mut outbox = Outbox::new(10, 10);
        outbox.last_pkid = u16::MAX - 1;
        let a = sent(&mut outbox, 1, QoS::AtLeastOnce);
        let b = sent(&mut outbox, 2, QoS::AtLeastOnce);
        assert_eq!((a, b), (u16::MAX, 1));
        outbox.last_pkid = 0;
        assert_eq!(sent(&mut outbox, 3, QoS::AtLeastOnce), 2, "1 is in use");
    }

    #[tokio::test]
    async fn a_receipt_is_delivered_on_the_ack_even_after_a_resend() {
        let mut outbox = Outbox::new(4, 4);
        let (mut p, receipt) = awaited();
        outbox.track(&mut p);
        outbox.on_connection_lost();
        let mut again = outbox.next_kept().unwrap();
        outbox.track(&mut again);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(20), receipt.delivered());
        assert!(waiting.await.is_err(), "not acknowledged yet");
        assert!(outbox.on_puback(again.pkid, false, &AtomicU64::new(0)));
        assert_eq!(receipt.delivered().await, Delivery::Acknowledged);
    }

    #[tokio::test]
    async fn a_refusal_reaches_the_receipt_and_frees_the_slot() {
        let mut outbox = Outbox::new(1, 1);
        let (mut p, receipt) = awaited();
        outbox.track(&mut p);
        assert!(!outbox.has_room());
        assert!(outbox.on_refused(p.pkid, "not authorized".into(), &AtomicU64::new(0)));
        assert!(outbox.has_room());
        assert_eq!(
            receipt.delivered().await,
            Delivery::Refused("not authorized".into())
        );
    }

    #[tokio::test]
    async fn a_durable_publishs_receipt_waits_until_the_durable_outbox_let_it_go() {
        let mut outbox = Outbox::new(4, 4);
        let (mut p, receipt) = awaited();
        p.durable = std::num::NonZeroU64::new(7);
        outbox.track(&mut p);
        assert!(outbox.on_puback(p.pkid, false, &AtomicU64::new(0)));
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(20), receipt.delivered());
        assert!(
            waiting.await.is_err(),
            "told before the durable outbox let it go"
        );
        let done = outbox
            .take_done_durable()
            .expect("one durable publish done");
        assert_eq!(done.seqs, [7]);
        done.tell();
        assert_eq!(receipt.delivered().await, Delivery::Acknowledged);
        assert!(outbox.take_done_durable().is_none());
    }

    #[test]
    fn the_window_closes_when_full_and_opens_on_an_ack() {
        let mut outbox = Outbox::new(2, 2);
        let first = sent(&mut outbox, 1, QoS::AtLeastOnce);
        sent(&mut outbox, 2, QoS::AtLeastOnce);
        assert!(!outbox.has_room());
        assert!(outbox.on_puback(first, false, &AtomicU64::new(0)));
        assert!(outbox.has_room());
        assert!(
            !outbox.on_puback(first, false, &AtomicU64::new(0)),
            "a second PUBACK is unknown"
        );
    }

    #[test]
    fn unacknowledged_publishes_are_sent_again_in_their_first_order() {
        let mut outbox = Outbox::new(10, 10);
        let first = sent(&mut outbox, 1, QoS::AtLeastOnce);
        sent(&mut outbox, 2, QoS::AtLeastOnce);
        sent(&mut outbox, 3, QoS::ExactlyOnce);
        sent(&mut outbox, 4, QoS::AtMostOnce);
        outbox.on_puback(first, false, &AtomicU64::new(0));
        assert_eq!(outbox.on_connection_lost(), 2);
        let again: Vec<_> = std::iter::from_fn(|| outbox.next_kept()).collect();
        let topics: Vec<_> = again.iter().map(PublishPacket::topic).collect();
        assert_eq!(topics, ["t/2", "t/3"]);
        assert!(again.iter().all(|p| p.pkid == 0));
    }

    #[test]
    fn a_qos2_publish_the_broker_received_is_not_sent_again() {
        let mut outbox = Outbox::new(10, 10);
        let pkid = sent(&mut outbox, 1, QoS::ExactlyOnce);
        assert!(outbox.on_pubrec(pkid, false));
        assert_eq!(outbox.on_connection_lost(), 0);
        assert!(outbox.is_empty());
    }

    #[test]
    fn a_narrower_window_holds_back_publishes_until_acks_make_room() {
        let mut outbox = Outbox::new(4, 4);
        let first = sent(&mut outbox, 1, QoS::AtLeastOnce);
        sent(&mut outbox, 2, QoS::AtLeastOnce);
        outbox.set_window(2, 2);
        assert!(!outbox.has_room());
        outbox.on_puback(first, false, &AtomicU64::new(0));
        assert!(outbox.has_room());
        outbox.set_window(0, 0);
        assert!(
            !outbox.has_room(),
            "a window is at least 1, and 1 is in flight"
        );
    }

    #[test]
    fn kept_publishes_wait_for_room_in_the_window() {
        let mut outbox = Outbox::new(1, 1);
        sent(&mut outbox, 1, QoS::AtLeastOnce);
        sent(&mut outbox, 2, QoS::AtLeastOnce);
        outbox.on_connection_lost();
        let mut next = outbox.next_kept().unwrap();
        outbox.track(&mut next);
        assert!(outbox.next_kept().is_none(), "the window of 1 is full");
        assert!(outbox.has_kept());
    }

    #[test]
    fn qos2_publishes_wait_for_their_own_window_and_keep_their_order() {
        let mut outbox = Outbox::new(10, 2);
        let first = sent(&mut outbox, 1, QoS::ExactlyOnce);
        sent(&mut outbox, 2, QoS::ExactlyOnce);
        let third = publish(3, QoS::ExactlyOnce);
        assert!(
            outbox.must_wait(&third),
            "two QoS 2 in flight fill a window of 2"
        );
        assert!(
            !outbox.must_wait(&publish(4, QoS::AtLeastOnce)),
            "QoS 1 is not held"
        );
        outbox.keep(third);
        assert!(
            outbox.next_kept().is_none(),
            "the QoS 2 window is still full"
        );
        assert!(outbox.on_pubrec(first, false));
        assert!(
            outbox.next_kept().is_none(),
            "a released QoS 2 still holds its place"
        );
        assert!(outbox.on_pubcomp(first, &AtomicU64::new(0)));
        let next = outbox.next_kept().expect("room after the PUBCOMP");
        assert_eq!(next.payload.as_ref(), [3]);
    }

    #[test]
    fn presence_in_flight_is_not_sent_again_on_the_next_connection() {
        let mut outbox = Outbox::new(10, 10);
        let mut health = publish(1, QoS::AtLeastOnce);
        outbox.track_presence(&mut health);
        sent(&mut outbox, 2, QoS::AtLeastOnce);
        assert_eq!(
            outbox.on_connection_lost(),
            1,
            "only the data publish is kept"
        );
        let kept = outbox.next_kept().expect("the data publish");
        assert_eq!(kept.payload.as_ref(), [2]);
    }
}
