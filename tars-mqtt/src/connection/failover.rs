//! Which broker of the list (`MQTT_URL` may name several) the link tries next: the
//! first at start; after a lost connection, the lost one again first (a broker that is
//! still up keeps the persistent session, which a cluster's other nodes may not carry
//! over), then the ones after it, round the list. Within a pass over the list a failed
//! attempt moves straight on to the next broker; a whole pass without success waits the
//! usual jittered backoff before the next pass.

/// The link's position in the broker list.
#[derive(Debug, Clone)]
pub(crate) struct Failover {
    count: usize,
    next: usize,
    failed_in_pass: usize,
}

impl Failover {
    /// A list of `count` brokers (at least one).
    pub(crate) fn new(count: usize) -> Self {
        Self {
            count: count.max(1),
            next: 0,
            failed_in_pass: 0,
        }
    }

    /// The index of the broker to try now.
    pub(crate) fn current(&self) -> usize {
        self.next
    }

    /// The attempt on the current broker failed: moves to the next one. Returns whether
    /// every broker has failed since the last connection or wait (time to back off).
    pub(crate) fn on_failure(&mut self) -> bool {
        self.next = (self.next + 1) % self.count;
        self.failed_in_pass += 1;
        if self.failed_in_pass >= self.count {
            self.failed_in_pass = 0;
            return true;
        }
        false
    }

    /// Connected to the current broker.
    pub(crate) fn on_connected(&mut self) {
        self.failed_in_pass = 0;
    }

    /// The connection to the current broker was lost: the next pass starts with it again
    /// (a refused attempt moves on at once) and goes on round the list.
    pub(crate) fn on_lost(&mut self) {
        self.failed_in_pass = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_broker_backs_off_after_every_failure() {
        let mut failover = Failover::new(1);
        assert_eq!(failover.current(), 0);
        assert!(failover.on_failure());
        assert_eq!(failover.current(), 0);
        failover.on_lost();
        assert_eq!(failover.current(), 0);
    }

    #[test]
    fn a_list_is_tried_in_order_and_backs_off_after_a_whole_pass() {
        let mut failover = Failover::new(3);
        assert!(!failover.on_failure()); // 0 failed
        assert_eq!(failover.current(), 1);
        assert!(!failover.on_failure()); // 1 failed
        assert!(failover.on_failure()); // 2 failed: the whole list, back off
        assert_eq!(failover.current(), 0);
    }

    #[test]
    fn after_a_loss_the_lost_broker_comes_first_then_the_ones_after_it() {
        let mut failover = Failover::new(3);
        assert!(!failover.on_failure());
        failover.on_connected(); // on broker 1
        failover.on_lost();
        assert_eq!(
            failover.current(),
            1,
            "the lost broker is tried again first"
        );
        assert!(!failover.on_failure());
        assert_eq!(failover.current(), 2);
        assert!(!failover.on_failure());
        assert_eq!(failover.current(), 0);
        assert!(failover.on_failure(), "a whole pass failed: back off");
        assert_eq!(failover.current(), 1);
    }
}
