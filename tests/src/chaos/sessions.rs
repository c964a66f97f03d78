//! The services' reconnects, read from their logs, and what they say of the persistent
//! sessions: a service that connects again (after a lost connection, or as a new
//! incarnation after a kill) and is told `session_present=false` has lost what the
//! broker had queued for it (on a cluster, the node it landed on did not have the
//! session another node kept; tars asked for it and cannot fetch it); one told `true`
//! gets the session's unacknowledged messages again, in the order the broker resends
//! them.

use chrono::DateTime;

use super::plan::SERVICES;
use super::record::{Incarnation, RunRecord};

/// How long before its connection was lost a message may have been queued in the
/// session (for a slow or backlogged consumer, or sent into a black hole before the
/// keepalive noticed).
pub const SESSION_HOLD_MS: u64 = 10_000;
/// How long after the new session began a message may still have missed it (the
/// subscriptions are restored just after the CONNACK).
pub const SUBSCRIBE_MS: u64 = 5_000;

/// A connection event of one service, from its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// Connected; whether the broker had the session.
    Connected { session_present: bool },
    /// The connection was lost, or the incarnation ended.
    Gone,
}

/// A stretch of time in which what a broker queued for `service` may have been lost
/// with its session: from [`SESSION_HOLD_MS`] before its connection was lost to
/// [`SUBSCRIBE_MS`] after it connected to a broker without the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub service: usize,
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Dropped {
    /// Whether a message published at `at` falls in it.
    pub fn covers(&self, at: u64) -> bool {
        self.from_ms <= at && at <= self.to_ms
    }
}

/// A service connecting again with its persistent session: after a lost connection, or
/// as a new incarnation after the last one ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    pub service: usize,
    /// When the connection before was lost, or the incarnation before ended.
    pub gone_ms: u64,
    pub at_ms: u64,
    /// Whether the broker had kept the session.
    pub session_present: bool,
}

impl Reconnect {
    /// Whether a message handled at `handled_ms`, published at `published_ms`, may be
    /// one the broker resent from the resumed session: published before the connection
    /// was lost, handled within [`SUBSCRIBE_MS`] of the reconnect.
    pub fn resends(&self, handled_ms: u64, published_ms: u64) -> bool {
        published_ms <= self.gone_ms
            && self.at_ms <= handled_ms
            && handled_ms <= self.at_ms + SUBSCRIBE_MS
    }
}

/// Every reconnect of the run, by service and time. A service's first connection is not
/// one: it had no session before.
pub fn reconnects(run: &RunRecord) -> Vec<Reconnect> {
    let mut found = Vec::new();
    for service in 0..SERVICES.len() {
        let mut events: Vec<(u64, Event)> = run
            .incarnations
            .iter()
            .filter(|i| i.service == service)
            .flat_map(events_of)
            .collect();
        events.sort_by_key(|(at, _)| *at);
        let mut last_gone = None;
        let mut connected_before = false;
        for (at, event) in events {
            match event {
                Event::Gone => last_gone = Some(at),
                Event::Connected { session_present } => {
                    if connected_before {
                        found.push(Reconnect {
                            service,
                            gone_ms: last_gone.unwrap_or(at),
                            at_ms: at,
                            session_present,
                        });
                    }
                    connected_before = true;
                }
            }
        }
    }
    found
}

/// Every session of the run that a broker did not keep.
pub fn dropped(run: &RunRecord) -> Vec<Dropped> {
    reconnects(run)
        .into_iter()
        .filter(|r| !r.session_present)
        .map(|r| Dropped {
            service: r.service,
            from_ms: r.gone_ms.saturating_sub(SESSION_HOLD_MS),
            to_ms: r.at_ms + SUBSCRIBE_MS,
        })
        .collect()
}

/// One incarnation's connection events: its connects and lost connections (tracing
/// lines, stamped RFC 3339), and its end.
fn events_of(incarnation: &Incarnation) -> Vec<(u64, Event)> {
    let mut events: Vec<(u64, Event)> = incarnation
        .output
        .lines()
        .filter_map(|line| {
            let (stamp, rest) = line.split_once(' ')?;
            let event = if rest.contains("connected to the broker") {
                Event::Connected {
                    session_present: !rest.contains("session_present=false"),
                }
            } else if rest.contains("connection lost") {
                Event::Gone
            } else {
                return None;
            };
            let at = DateTime::parse_from_rfc3339(stamp).ok()?.timestamp_millis();
            Some((u64::try_from(at).ok()?, event))
        })
        .collect();
    if let Some(ended) = incarnation.ended_ms {
        events.push((ended, Event::Gone));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06T12:00:00Z in milliseconds since the epoch.
    const NOON: u64 = 1_796_558_400_000;

    fn incarnation(service: usize, number: u64, lines: &[&str], ended: Option<u64>) -> Incarnation {
        Incarnation {
            service,
            number,
            started_ms: NOON,
            ended_ms: ended,
            ended_by: None,
            exit_code: None,
            output: lines.iter().map(|l| format!("{l}\n")).collect(),
        }
    }

    const FIRST: &str = "2026-12-06T12:00:00.500000Z  INFO tars::connection::link: connected to the broker broker=mqtt://127.0.0.1:1 session_present=false";
    const LOST: &str = "2026-12-06T12:00:30.000000Z  WARN tars::connection::link: connection lost; reconnecting broker=mqtt://127.0.0.1:1 reason=cut kept=0";

    #[test]
    fn a_reconnect_without_the_session_drops_it_and_a_first_connect_does_not() {
        let again = "2026-12-06T12:00:31.250000Z  INFO tars::connection::link: reconnected to the broker broker=mqtt://127.0.0.1:2 session_present=false";
        let run = RunRecord {
            incarnations: vec![incarnation(2, 0, &[FIRST, LOST, again], None)],
            ..RunRecord::default()
        };
        let dropped = dropped(&run);
        assert_eq!(
            dropped,
            [Dropped {
                service: 2,
                from_ms: NOON + 30_000 - SESSION_HOLD_MS,
                to_ms: NOON + 31_250 + SUBSCRIBE_MS,
            }]
        );
        assert!(dropped[0].covers(NOON + 25_000));
        assert!(!dropped[0].covers(NOON + 19_000));
        assert!(!dropped[0].covers(NOON + 36_251));
    }

    #[test]
    fn a_reconnect_that_finds_the_session_drops_nothing() {
        let again = "2026-12-06T12:00:31.250000Z  INFO tars::connection::link: reconnected to the broker broker=mqtt://127.0.0.1:1 session_present=true";
        let run = RunRecord {
            incarnations: vec![incarnation(2, 0, &[FIRST, LOST, again], None)],
            ..RunRecord::default()
        };
        assert_eq!(dropped(&run), []);
        assert_eq!(
            reconnects(&run),
            [Reconnect {
                service: 2,
                gone_ms: NOON + 30_000,
                at_ms: NOON + 31_250,
                session_present: true,
            }]
        );
    }

    #[test]
    fn a_new_incarnation_without_the_session_drops_it_from_the_old_ones_end() {
        let restarted = "2026-12-06T12:01:00.000000Z  INFO tars::connection::link: connected to the broker broker=mqtt://127.0.0.1:2 session_present=false";
        let run = RunRecord {
            incarnations: vec![
                incarnation(4, 1, &[restarted], None),
                incarnation(4, 0, &[FIRST], Some(NOON + 58_000)),
            ],
            ..RunRecord::default()
        };
        assert_eq!(
            dropped(&run),
            [Dropped {
                service: 4,
                from_ms: NOON + 58_000 - SESSION_HOLD_MS,
                to_ms: NOON + 60_000 + SUBSCRIBE_MS,
            }]
        );
    }
}
