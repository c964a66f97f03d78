//! The invariants of a chaos run, each stated with its counterexample, and the run's
//! report (faults by kind, messages, losses, duplicates by cause).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::events::{DEAD_LETTER_TOPIC, FAILING_EVERY};
use super::plan::{Brokers, Fault, SERVICES};
use super::record::{Applied, Incarnation, RunRecord};
use super::sessions::{self, Dropped, SESSION_HOLD_MS, SUBSCRIBE_MS};
use super::MEMORY_BOUND_KIB;

/// How long after a fault ends its effects are still excused (reconnecting, restoring
/// subscriptions, the first heartbeat).
const RECOVERY_MS: u64 = 5_000;
/// How much earlier than its publish a fault may have started and still be on a
/// message's path (the publish was in flight through it).
const PATH_SLACK_MS: u64 = 2_000;
/// Jitter allowed on top of two heartbeat intervals (the observer's own delivery).
const HEARTBEAT_JITTER_MS: u64 = 250;
/// How long before a node's death a message may have been published and still be held
/// by that node: queued for a consumer that was away (killed and restarted, in a black
/// hole, reconnecting) or not yet forwarded to the other nodes.
const NODE_HOLD_MS: u64 = 10_000;

/// A broken invariant and its counterexample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub counterexample: String,
}

/// What the checker found: every violation, in the order of the invariants, and the
/// report.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub violations: Vec<Violation>,
    pub report: String,
}

/// The kinds of message that must be handled, and who handles them.
const KINDS: [(&str, &[&str]); 3] = [
    (
        "job",
        &["chaos-worker-1", "chaos-worker-2", "chaos-worker-3"],
    ),
    ("stream", &["chaos-ordered"]),
    ("task", &["chaos-retrying"]),
];

/// Judges a run.
pub fn check(run: &RunRecord) -> Verdict {
    let mut verdict = Verdict::default();
    let facts = Facts::gather(run);
    let mut report = String::new();
    report_faults(run, &mut report);
    losses(run, &facts, &mut verdict.violations, &mut report);
    duplicates(run, &facts, &mut verdict.violations, &mut report);
    order(run, &facts, &mut verdict.violations, &mut report);
    requests(run, &mut verdict.violations, &mut report);
    heartbeats(run, &mut verdict.violations, &mut report);
    endings(run, &mut verdict.violations, &mut report);
    verdict.report = report;
    verdict
}

/// What the records say, by kind and number.
struct Facts {
    /// kind → number → when its publish returned (or the broker acknowledged the burst).
    published: HashMap<&'static str, BTreeMap<u64, u64>>,
    /// kind → number → when it was handled, each time.
    handled: HashMap<&'static str, HashMap<u64, Vec<u64>>>,
    /// task number → when it was dead-lettered, each time.
    dead: HashMap<u64, Vec<u64>>,
    /// The ordered subscriber's items in the order handled.
    stream: Vec<(u64, u64)>,
}

impl Facts {
    fn gather(run: &RunRecord) -> Self {
        let mut published: HashMap<&'static str, BTreeMap<u64, u64>> = HashMap::new();
        let mut handled: HashMap<&'static str, HashMap<u64, Vec<u64>>> = HashMap::new();
        let mut stream = Vec::new();
        let mut incarnations: Vec<&Incarnation> = run.incarnations.iter().collect();
        incarnations.sort_by_key(|i| i.started_ms);
        for incarnation in incarnations {
            for (at, what) in incarnation.records() {
                let mut words = what.split(' ');
                let (verb, kind, n) = (words.next(), words.next(), words.next());
                let Some(kind) = KINDS.iter().map(|(k, _)| *k).find(|k| Some(*k) == kind) else {
                    continue;
                };
                let Some(n) = n.and_then(|n| n.parse::<u64>().ok()) else {
                    continue;
                };
                match verb {
                    Some("published") => {
                        published.entry(kind).or_default().insert(n, at);
                    }
                    Some("handled") => {
                        handled
                            .entry(kind)
                            .or_default()
                            .entry(n)
                            .or_default()
                            .push(at);
                        if kind == "stream" {
                            stream.push((at, n));
                        }
                    }
                    _ => {}
                }
            }
        }
        let tasks = published.entry("task").or_default();
        for &(n, acked_ms) in &run.burst_acked {
            tasks.entry(n).or_insert(acked_ms);
        }
        let mut dead: HashMap<u64, Vec<u64>> = HashMap::new();
        for observed in run.observed.iter().filter(|o| o.topic == DEAD_LETTER_TOPIC) {
            let json: serde_json::Value =
                serde_json::from_slice(&observed.payload).unwrap_or_default();
            if let Some(n) = json["data"]["envelope"]["data"]["n"].as_u64() {
                dead.entry(n).or_default().push(observed.at_ms);
            }
        }
        Self {
            published,
            handled,
            dead,
            stream,
        }
    }

    fn published(&self, kind: &str) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.published
            .get(kind)
            .into_iter()
            .flatten()
            .map(|(n, at)| (*n, *at))
    }

    fn handled(&self, kind: &str, n: u64) -> &[u64] {
        self.handled
            .get(kind)
            .and_then(|h| h.get(&n))
            .map_or(&[], Vec::as_slice)
    }
}

fn report_faults(run: &RunRecord, report: &mut String) {
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for applied in &run.faults {
        *by_kind.entry(applied.fault.kind()).or_default() += 1;
    }
    let listed: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        report,
        "faults: {} ({})",
        run.faults.len(),
        listed.join(", ")
    );
}

/// Every QoS 1 message whose publish returned (or that the broker acknowledged) is
/// handled at least once, or dead-lettered.
fn losses(run: &RunRecord, facts: &Facts, violations: &mut Vec<Violation>, report: &mut String) {
    let mut lost = 0;
    let mut dropped_by_broker = 0;
    let mut with_dead_node = 0;
    let mut session_not_kept = 0;
    let dropped_sessions = match run.brokers {
        Brokers::Cluster => sessions::dropped(run),
        Brokers::Mosquitto => Vec::new(), // one broker: every session must be kept
    };
    let mut first = None;
    for (kind, _) in KINDS {
        let (mut published, mut handled, mut dead) = (0, 0, 0);
        for (n, at) in facts.published(kind) {
            published += 1;
            let failing = kind == "task" && n.is_multiple_of(FAILING_EVERY);
            let done = if failing {
                facts.dead.contains_key(&n)
            } else {
                !facts.handled(kind, n).is_empty()
            };
            match (done, failing) {
                (true, true) => dead += 1,
                (true, false) => handled += 1,
                (false, _) if kind == SHARED_KIND && just_after_broker_restart(run, at) => {
                    dropped_by_broker += 1;
                }
                (false, _) if near_node_death(run, at) => with_dead_node += 1,
                (false, _) if in_dropped_session(&dropped_sessions, kind, at) => {
                    session_not_kept += 1;
                }
                (false, _) => {
                    lost += 1;
                    first.get_or_insert_with(|| {
                        let outcome = if failing { "dead-lettered" } else { "handled" };
                        format!("{kind} {n}, published at {at} ms, was never {outcome}")
                    });
                }
            }
        }
        let _ = writeln!(
            report,
            "{kind}s: {published} published, {handled} handled, {dead} dead-lettered"
        );
    }
    let _ = writeln!(report, "lost: {lost}");
    match run.brokers {
        Brokers::Mosquitto => {
            let _ = writeln!(
                report,
                "dropped by mosquitto: {dropped_by_broker} jobs published while the share group subscribed again after a broker restart (its persistence does not keep shared subscriptions)"
            );
        }
        Brokers::Cluster => {
            let _ = writeln!(
                report,
                "lost with a dead node: {with_dead_node} published from {} s before a node's death until {} s after the cluster routed again",
                NODE_HOLD_MS / 1000,
                RECOVERY_MS / 1000
            );
            let _ = writeln!(
                report,
                "lost with a session the cluster did not keep: {session_not_kept} published from {} s before a consumer's connection was lost until {} s after it connected to a node without its session ({} such connections)",
                SESSION_HOLD_MS / 1000,
                SUBSCRIBE_MS / 1000,
                dropped_sessions.len()
            );
        }
    }
    if let Some(counterexample) = first {
        violations.push(Violation {
            invariant:
                "every acknowledged QoS 1 message is handled at least once, or dead-lettered",
            counterexample: format!("{counterexample} ({lost} lost in all)"),
        });
    }
}

/// The kind that travels through a shared subscription.
const SHARED_KIND: &str = "job";

/// Whether a message published at `at` may have reached the broker only after a
/// restart: published between the start of the restart (or of a fault of the broker or
/// the publisher under way when it began, which kept the message from the broker) and
/// the end of the recovery after it. mosquitto's persistence keeps sessions and plain
/// subscriptions but not shared ones: until the share group's members subscribe
/// again, what is published to it is acknowledged and dropped (seen in the hour-long
/// run; shown by hand with paho on mosquitto 2.0.11).
fn just_after_broker_restart(run: &RunRecord, at: u64) -> bool {
    let publisher = SERVICES.iter().position(|s| *s == "chaos-publisher");
    run.faults
        .iter()
        .filter(|a| matches!(a.fault, Fault::BrokerRestart))
        .any(|restart| {
            let from = run
                .faults
                .iter()
                .filter(|f| f.fault.is_broker() || f.fault.service() == publisher)
                .filter(|f| {
                    f.started_ms <= restart.started_ms && restart.started_ms <= f.ended_ms + 1_000
                })
                .map(|f| f.started_ms)
                .min()
                .unwrap_or(restart.started_ms);
            from <= at && at <= restart.ended_ms + RECOVERY_MS
        })
}

/// Whether a message published at `at` may have been held by a cluster node when it
/// died, or published while the surviving nodes stalled: from [`NODE_HOLD_MS`] before
/// a node's death until [`RECOVERY_MS`] after the cluster routed again. What a dead
/// node held is gone with it (the broadcast cluster does not replicate sessions,
/// docs/scaling.md); tars cannot bring it back.
fn near_node_death(run: &RunRecord, at: u64) -> bool {
    run.faults
        .iter()
        .filter(|a| matches!(a.fault, Fault::NodeDeath(..)))
        .any(|death| {
            death.started_ms.saturating_sub(NODE_HOLD_MS) <= at
                && at <= death.ended_ms + RECOVERY_MS
        })
}

/// Whether a message of `kind` published at `at` may have been queued in a session of
/// one of its consumers that a node did not keep ([`sessions::dropped`]).
fn in_dropped_session(dropped: &[Dropped], kind: &str, at: u64) -> bool {
    let consumers = consumers_of(kind);
    dropped
        .iter()
        .any(|d| consumers.contains(&SERVICES[d.service]) && d.covers(at))
}

/// The services that handle messages of `kind`.
fn consumers_of(kind: &str) -> &'static [&'static str] {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[][..], |(_, c)| *c)
}

/// The services a message of `kind` passes through.
fn path_of(kind: &str) -> Vec<usize> {
    let consumers = consumers_of(kind);
    SERVICES
        .iter()
        .enumerate()
        .filter(|(_, name)| **name == "chaos-publisher" || consumers.contains(name))
        .map(|(i, _)| i)
        .collect()
}

/// The latest fault on `path` between `from_ms` (less the slack) and `to_ms`.
fn fault_on_path<'a>(
    run: &'a RunRecord,
    path: &[usize],
    from_ms: u64,
    to_ms: u64,
) -> Option<&'a Applied> {
    run.faults
        .iter()
        .filter(|a| a.fault.is_broker() || a.fault.service().is_some_and(|s| path.contains(&s)))
        .filter(|a| a.started_ms <= to_ms && a.ended_ms + PATH_SLACK_MS >= from_ms)
        .max_by_key(|a| a.started_ms)
}

/// A duplicate appears only after a fault on its path.
fn duplicates(
    run: &RunRecord,
    facts: &Facts,
    violations: &mut Vec<Violation>,
    report: &mut String,
) {
    let mut by_cause: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unexplained = Vec::new();
    for (kind, _) in KINDS {
        let path = path_of(kind);
        let mut copies: Vec<(u64, Vec<u64>)> = facts
            .handled
            .get(kind)
            .into_iter()
            .flatten()
            .filter(|(_, times)| times.len() > 1)
            .map(|(n, times)| (*n, times.clone()))
            .collect();
        if kind == "task" {
            copies.extend(
                facts
                    .dead
                    .iter()
                    .filter(|(_, times)| times.len() > 1)
                    .map(|(n, times)| (*n, times.clone())),
            );
        }
        for (n, mut times) in copies {
            times.sort_unstable();
            let published = facts
                .published
                .get(kind)
                .and_then(|p| p.get(&n))
                .copied()
                .unwrap_or(times[0]);
            for &again in &times[1..] {
                match fault_on_path(run, &path, published, again) {
                    Some(fault) => *by_cause.entry(fault.fault.kind()).or_default() += 1,
                    None => unexplained.push(format!(
                        "{kind} {n} handled again at {again} ms (published at {published} ms) with no fault on its path since"
                    )),
                }
            }
        }
    }
    let total: usize = by_cause.values().sum::<usize>() + unexplained.len();
    let causes: Vec<String> = by_cause
        .iter()
        .map(|(k, n)| format!("after {k} {n}"))
        .collect();
    let _ = writeln!(report, "duplicates: {total} ({})", causes.join(", "));
    if let Some(first) = unexplained.first() {
        violations.push(Violation {
            invariant: "a duplicate appears only after a fault on its path",
            counterexample: format!("{first} ({} such)", unexplained.len()),
        });
    }
}

/// The order holds within the ordered group: no item is handled for the first time
/// after a later one. On the cluster, an item the broker resent out of order when it
/// resumed the subscriber's session is counted apart: rmqtt 0.24 resends a resumed
/// session's in-flight window newest first (`transfer_session_state` pops the window
/// from its end), against MQTT-4.6.0-1; tars handles what arrives in the order it
/// arrives.
fn order(run: &RunRecord, facts: &Facts, violations: &mut Vec<Violation>, report: &mut String) {
    let ordered = SERVICES.iter().position(|s| *s == "chaos-ordered");
    let resumed: Vec<sessions::Reconnect> = match run.brokers {
        Brokers::Cluster => sessions::reconnects(run)
            .into_iter()
            .filter(|r| r.session_present && Some(r.service) == ordered)
            .collect(),
        Brokers::Mosquitto => Vec::new(), // mosquitto resends in order: no excuse
    };
    let published: HashMap<u64, u64> = facts.published("stream").collect();
    let mut stream = facts.stream.clone();
    stream.sort_by_key(|(at, _)| *at);
    let mut seen = std::collections::HashSet::new();
    let mut highest: Option<(u64, u64)> = None;
    let mut resent_out_of_order = 0;
    for (at, n) in stream {
        if !seen.insert(n) {
            continue; // a redelivery: counted among the duplicates
        }
        if let Some((top, top_at)) = highest {
            if n < top {
                let sent_before = published.get(&n).copied().unwrap_or(u64::MAX);
                if resumed.iter().any(|r| r.resends(at, sent_before)) {
                    resent_out_of_order += 1;
                    continue;
                }
                violations.push(Violation {
                    invariant: "the order holds within an ordered group",
                    counterexample: format!(
                        "stream {n} handled for the first time at {at} ms, after stream {top} (at {top_at} ms)"
                    ),
                });
                return;
            }
        }
        highest = Some((n, at));
    }
    if run.brokers == Brokers::Cluster {
        let _ = writeln!(
            report,
            "order: {resent_out_of_order} stream items resent out of order by the cluster when it resumed the ordered subscriber's session (rmqtt resends the session's in-flight window newest first)"
        );
    }
}

/// Every request is answered, or fails with a timeout error.
fn requests(run: &RunRecord, violations: &mut Vec<Violation>, report: &mut String) {
    let (mut sent, mut answered, mut timed_out, mut cut_short) = (0, 0, 0, 0);
    let mut first = None;
    let requester = SERVICES.iter().position(|s| *s == "chaos-requester");
    for incarnation in run
        .incarnations
        .iter()
        .filter(|i| Some(i.service) == requester)
    {
        let records: Vec<(u64, &str)> = incarnation.records().collect();
        let mut open: Option<(u64, &str)> = None;
        for (index, (at, what)) in records.iter().enumerate() {
            let Some(rest) = what.strip_prefix("request ") else {
                continue;
            };
            let (n, outcome) = rest.split_once(' ').unwrap_or((rest, ""));
            let last = index + 1 == records.len();
            let stopping = matches!(incarnation.ended_by, Some("SIGTERM" | "final stop"));
            match outcome {
                "sent" => {
                    sent += 1;
                    open = Some((*at, n));
                    continue;
                }
                "answered" => answered += 1,
                "timed-out" => timed_out += 1,
                failed if last && stopping => {
                    cut_short += 1;
                    let _ = failed;
                }
                failed => {
                    first.get_or_insert_with(|| format!("request {n} at {at} ms: {failed}"));
                }
            }
            open = None;
        }
        if let Some((at, n)) = open {
            if incarnation.ended_by.is_some() {
                cut_short += 1; // its process stopped while it waited
            } else {
                first.get_or_insert_with(|| format!("request {n} sent at {at} ms never ended"));
            }
        }
    }
    let _ = writeln!(
        report,
        "requests: {sent} sent, {answered} answered, {timed_out} timed out, {cut_short} cut short by their process's stop"
    );
    if let Some(counterexample) = first {
        violations.push(Violation {
            invariant: "every request is answered or fails with a timeout error",
            counterexample,
        });
    }
}

/// Windows `[from, to]` in which a service's heartbeat may be late: its own faults and
/// the broker's, with time to recover, and its incarnations' starts.
fn excused(run: &RunRecord, service: usize) -> Vec<(u64, u64)> {
    let mut windows: Vec<(u64, u64)> = run
        .faults
        .iter()
        .filter(|a| a.fault.is_broker() || a.fault.service() == Some(service))
        .map(|a| (a.started_ms, a.ended_ms + RECOVERY_MS))
        .collect();
    for incarnation in run.incarnations.iter().filter(|i| i.service == service) {
        windows.push((incarnation.started_ms, incarnation.started_ms + RECOVERY_MS));
    }
    windows.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (from, to) in windows {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
}

/// A live service's heartbeat never gaps more than 2 intervals, except across its own
/// faults and the broker's.
fn heartbeats(run: &RunRecord, violations: &mut Vec<Violation>, report: &mut String) {
    let limit = 2 * run.heartbeat.as_millis() as u64 + HEARTBEAT_JITTER_MS;
    let (mut gaps, mut excused_gaps) = (0, 0);
    let mut first = None;
    for (service, name) in SERVICES.iter().enumerate() {
        let topic = format!("system/keepalive/{name}");
        let mut beats: Vec<u64> = run
            .observed
            .iter()
            .filter(|o| o.topic == topic && o.at_ms <= run.healed_ms)
            .map(|o| o.at_ms)
            .collect();
        beats.sort_unstable();
        let windows = excused(run, service);
        for pair in beats.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            if after - before <= limit {
                continue;
            }
            gaps += 1;
            let overdue = before + limit;
            let covered = windows
                .iter()
                .any(|&(from, to)| from <= overdue && after <= to + limit);
            if covered {
                excused_gaps += 1;
            } else {
                first.get_or_insert_with(|| {
                    format!(
                        "{name}: no heartbeat from {before} ms to {after} ms ({} ms; at most {limit} ms) and no fault of its own or the broker's then",
                        after - before
                    )
                });
            }
        }
    }
    let _ = writeln!(
        report,
        "heartbeat gaps over 2 intervals: {gaps} ({excused_gaps} across a fault of the service or the broker)"
    );
    if let Some(counterexample) = first {
        violations.push(Violation {
            invariant: "a live service's heartbeat never gaps more than 2 intervals, except across its own kill, pause or cut",
            counterexample,
        });
    }
}

/// Health ends ok, memory stays within its bound, no panic, no process exits by itself
/// and every graceful stop exits 0.
fn endings(run: &RunRecord, violations: &mut Vec<Violation>, report: &mut String) {
    for (service, ok, event) in &run.final_health {
        if *ok != Some(true) {
            violations.push(Violation {
                invariant: "health ends ok",
                counterexample: format!(
                    "{}: last health {event} (ok = {ok:?})",
                    SERVICES[*service]
                ),
            });
            break;
        }
    }
    let max = run.max_rss_kib.iter().copied().max().unwrap_or(0);
    let _ = writeln!(
        report,
        "largest resident set: {} KiB (bound {MEMORY_BOUND_KIB} KiB)",
        max
    );
    if let Some((service, rss)) = run
        .max_rss_kib
        .iter()
        .enumerate()
        .find(|(_, rss)| **rss > MEMORY_BOUND_KIB)
    {
        violations.push(Violation {
            invariant: "resident memory stays within its bound",
            counterexample: format!("{}: {rss} KiB", SERVICES[service]),
        });
    }
    for incarnation in &run.incarnations {
        let name = SERVICES[incarnation.service];
        if let Some(line) = incarnation.output.lines().find(|l| l.contains("panicked")) {
            violations.push(Violation {
                invariant: "no panic appears in any log",
                counterexample: format!("{name} (incarnation {}): {line}", incarnation.number),
            });
        }
        match (incarnation.ended_by, incarnation.exit_code) {
            (Some("by itself"), code) => violations.push(Violation {
                invariant: "no service exits unless stopped",
                counterexample: format!(
                    "{name} (incarnation {}) exited by itself (code {code:?}):\n{}",
                    incarnation.number,
                    tail(&incarnation.output)
                ),
            }),
            (Some("SIGTERM" | "final stop"), code) if code != Some(0) => {
                violations.push(Violation {
                    invariant: "a graceful stop exits 0",
                    counterexample: format!(
                        "{name} (incarnation {}) exited with {code:?}:\n{}",
                        incarnation.number,
                        tail(&incarnation.output)
                    ),
                })
            }
            _ => {}
        }
    }
    let restarts = run.incarnations.len().saturating_sub(SERVICES.len());
    let _ = writeln!(report, "service restarts: {restarts}");
}

/// The last lines of an output.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chaos::plan::Fault;
    use crate::chaos::record::Observed;

    const T0: u64 = 1_000_000;

    fn incarnation(service: &str, records: &[(u64, &str)]) -> Incarnation {
        let output: String = records
            .iter()
            .map(|(at, what)| format!("chaos {} {what}\n", T0 + at))
            .collect();
        Incarnation {
            service: SERVICES.iter().position(|s| *s == service).unwrap(),
            number: 0,
            started_ms: T0,
            ended_ms: Some(T0 + 60_000),
            ended_by: Some("final stop"),
            exit_code: Some(0),
            output,
        }
    }

    /// A clean run: one job, one stream item and one task published and handled, every
    /// service's heartbeat each second, health ok.
    fn clean() -> RunRecord {
        let mut observed = Vec::new();
        for name in SERVICES {
            for second in 0..30 {
                observed.push(Observed {
                    at_ms: T0 + second * 1_000,
                    topic: format!("system/keepalive/{name}"),
                    payload: Vec::new(),
                });
            }
        }
        RunRecord {
            started_ms: T0,
            healed_ms: T0 + 30_000,
            incarnations: vec![
                incarnation(
                    "chaos-publisher",
                    &[
                        (10, "published job 1"),
                        (10, "published stream 1"),
                        (10, "published stream 2"),
                        (10, "published task 1"),
                    ],
                ),
                incarnation("chaos-worker-1", &[(20, "handled job 1")]),
                incarnation(
                    "chaos-ordered",
                    &[(20, "handled stream 1"), (30, "handled stream 2")],
                ),
                incarnation("chaos-retrying", &[(20, "handled task 1")]),
                incarnation(
                    "chaos-requester",
                    &[(20, "request 1 sent"), (25, "request 1 answered")],
                ),
            ],
            observed,
            max_rss_kib: vec![10_000; SERVICES.len()],
            final_health: (0..SERVICES.len())
                .map(|i| (i, Some(true), "ready".to_owned()))
                .collect(),
            heartbeat: Duration::from_secs(1),
            ..RunRecord::default()
        }
    }

    fn invariants(run: &RunRecord) -> Vec<&'static str> {
        check(run).violations.iter().map(|v| v.invariant).collect()
    }

    #[test]
    fn a_clean_run_breaks_nothing() {
        let verdict = check(&clean());
        assert_eq!(verdict.violations, [], "{}", verdict.report);
        assert!(verdict.report.contains("lost: 0"), "{}", verdict.report);
    }

    #[test]
    fn a_message_never_handled_is_lost() {
        let mut run = clean();
        run.incarnations[3].output.clear(); // the task never handled
        let verdict = check(&run);
        assert_eq!(
            verdict.violations[0].invariant,
            "every acknowledged QoS 1 message is handled at least once, or dead-lettered"
        );
        assert!(
            verdict.violations[0].counterexample.starts_with("task 1,"),
            "{:?}",
            verdict.violations
        );
        // A failing task is owed as a dead letter instead.
        let mut run = clean();
        run.incarnations[0]
            .output
            .push_str(&format!("chaos {} published task 7\n", T0 + 10));
        assert_eq!(
            invariants(&run),
            ["every acknowledged QoS 1 message is handled at least once, or dead-lettered"]
        );
        run.observed.push(Observed {
            at_ms: T0 + 40,
            topic: DEAD_LETTER_TOPIC.to_owned(),
            payload: br#"{"data": {"envelope": {"data": {"n": 7}}}}"#.to_vec(),
        });
        assert_eq!(invariants(&run), [] as [&str; 0]);
    }

    #[test]
    fn a_job_lost_just_after_a_broker_restart_is_the_brokers_drop_and_only_then() {
        let mut run = clean();
        run.incarnations[1].output.clear(); // job 1, published at T0 + 10, never handled
        assert_eq!(
            invariants(&run),
            ["every acknowledged QoS 1 message is handled at least once, or dead-lettered"]
        );
        run.faults.push(Applied {
            fault: Fault::BrokerRestart,
            started_ms: T0,
            ended_ms: T0 + 5,
        });
        let verdict = check(&run);
        assert_eq!(verdict.violations, []);
        assert!(
            verdict.report.contains("dropped by mosquitto: 1 jobs"),
            "{}",
            verdict.report
        );
        // Not for a message of a plain subscription.
        run.incarnations[3].output.clear();
        assert_eq!(
            invariants(&run),
            ["every acknowledged QoS 1 message is handled at least once, or dead-lettered"]
        );
    }

    #[test]
    fn a_message_lost_around_a_node_death_is_the_dead_nodes_and_only_then() {
        let mut run = clean();
        run.brokers = crate::chaos::Brokers::Cluster;
        run.incarnations[3].output.clear(); // task 1, published at T0 + 10, never handled
        let lost = ["every acknowledged QoS 1 message is handled at least once, or dead-lettered"];
        assert_eq!(invariants(&run), lost);
        // A node died 12 s after the publish: too late to have held it.
        run.faults.push(Applied {
            fault: Fault::NodeDeath(1, Duration::from_secs(1)),
            started_ms: T0 + 10 + NODE_HOLD_MS + 2_000,
            ended_ms: T0 + 40_000,
        });
        assert_eq!(invariants(&run), lost);
        // One that died 8 s after it, or whose cluster routed again just before it.
        for (started_ms, ended_ms) in [
            (T0 + 8_010, T0 + 30_000),
            (T0 - 20_000, T0 + 10 - RECOVERY_MS + 1),
        ] {
            run.faults[0].started_ms = started_ms;
            run.faults[0].ended_ms = ended_ms;
            let verdict = check(&run);
            assert_eq!(verdict.violations, [], "{}", verdict.report);
            assert!(
                verdict.report.contains("lost with a dead node: 1 "),
                "{}",
                verdict.report
            );
        }
    }

    /// A tracing line of the link at `at` ms, as the services log it.
    fn logged(at: u64, message: &str) -> String {
        let stamp = chrono::DateTime::from_timestamp_millis(at as i64)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        format!("{stamp}  INFO tars::connection::link: {message}\n")
    }

    /// A consumer's log: connected at T0 − 5 s, its connection lost at `lost_at`, back
    /// on another node at T0 + 1 s, which had the session or not.
    fn reconnected(lost_at: u64, session_present: bool) -> String {
        [
            logged(
                T0 - 5_000,
                "connected to the broker broker=mqtt://a session_present=false",
            ),
            logged(
                lost_at,
                "connection lost; reconnecting broker=mqtt://a reason=cut kept=0",
            ),
            logged(
                T0 + 1_000,
                &format!(
                    "reconnected to the broker broker=mqtt://b session_present={session_present}"
                ),
            ),
        ]
        .concat()
    }

    #[test]
    fn a_message_lost_with_a_session_the_cluster_did_not_keep_is_counted_apart_and_only_then() {
        let lost = ["every acknowledged QoS 1 message is handled at least once, or dead-lettered"];
        for (brokers, session_present, expected) in [
            (crate::chaos::Brokers::Cluster, false, &[][..]),
            (crate::chaos::Brokers::Cluster, true, &lost[..]),
            (crate::chaos::Brokers::Mosquitto, false, &lost[..]),
        ] {
            let mut run = clean();
            run.brokers = brokers;
            // Task 1, published at T0 + 10, never handled: its consumer's connection was
            // lost just before and came back to a node that had not kept its session.
            run.incarnations[3].output = reconnected(T0 + 5, session_present);
            let verdict = check(&run);
            assert_eq!(
                invariants(&run),
                expected,
                "{brokers}, session_present={session_present}: {}",
                verdict.report
            );
            if expected.is_empty() {
                assert!(
                    verdict
                        .report
                        .contains("lost with a session the cluster did not keep: 1 "),
                    "{}",
                    verdict.report
                );
            }
        }
    }

    #[test]
    fn a_duplicate_needs_a_fault_on_its_path() {
        let mut run = clean();
        run.incarnations[1]
            .output
            .push_str(&format!("chaos {} handled job 1\n", T0 + 5_000));
        assert_eq!(
            invariants(&run),
            ["a duplicate appears only after a fault on its path"]
        );
        // A fault elsewhere does not explain it; a kill of a worker does.
        run.faults.push(Applied {
            fault: Fault::Kill(6, Duration::ZERO),
            started_ms: T0 + 1_000,
            ended_ms: T0 + 1_100,
        });
        assert_eq!(
            invariants(&run),
            ["a duplicate appears only after a fault on its path"]
        );
        run.faults.push(Applied {
            fault: Fault::Cut(2),
            started_ms: T0 + 2_000,
            ended_ms: T0 + 2_000,
        });
        let verdict = check(&run);
        assert_eq!(verdict.violations, []);
        assert!(
            verdict
                .report
                .contains("duplicates: 1 (after connection cut 1)"),
            "{}",
            verdict.report
        );
    }

    #[test]
    fn an_item_overtaken_in_the_ordered_group_breaks_the_order() {
        let mut run = clean();
        run.incarnations[2] = incarnation(
            "chaos-ordered",
            &[(20, "handled stream 2"), (30, "handled stream 1")],
        );
        assert_eq!(
            invariants(&run),
            ["the order holds within an ordered group"]
        );
    }

    #[test]
    fn a_burst_task_is_judged_by_when_the_broker_acknowledged_it() {
        let lost = ["every acknowledged QoS 1 message is handled at least once, or dead-lettered"];
        let task = crate::chaos::BURST_BASE + 2; // not a multiple of 7: owed a handling
        for (acked_ms, expected) in [(T0 + 10, &[][..]), (T0 + 30_000, &lost[..])] {
            let mut run = clean();
            run.brokers = crate::chaos::Brokers::Cluster;
            run.burst_acked = vec![(task, acked_ms)];
            // The retrying handler's session was not kept around T0.
            run.incarnations[3].output =
                reconnected(T0 + 5, false) + &format!("chaos {} handled task 1\n", T0 + 1_001);
            assert_eq!(invariants(&run), expected, "acknowledged at {acked_ms}");
        }
    }

    #[test]
    fn an_item_overtaken_when_the_cluster_resumed_the_session_is_counted_apart_and_only_then() {
        let broken = ["the order holds within an ordered group"];
        for (brokers, session_present, expected) in [
            (crate::chaos::Brokers::Cluster, true, &[][..]),
            (crate::chaos::Brokers::Cluster, false, &broken[..]),
            (crate::chaos::Brokers::Mosquitto, true, &broken[..]),
        ] {
            let mut run = clean();
            run.brokers = brokers;
            // Stream items 1 and 2 (published at T0 + 10) were in flight when the
            // connection was lost; the session resumed, they came back newest first.
            run.incarnations[2].output = reconnected(T0 + 15, session_present)
                + &format!("chaos {} handled stream 2\n", T0 + 1_001)
                + &format!("chaos {} handled stream 1\n", T0 + 1_001);
            let verdict = check(&run);
            assert_eq!(
                invariants(&run),
                expected,
                "{brokers}, session_present={session_present}: {}",
                verdict.report
            );
            if expected.is_empty() {
                assert!(
                    verdict
                        .report
                        .contains("order: 1 stream items resent out of order"),
                    "{}",
                    verdict.report
                );
            }
        }
    }

    #[test]
    fn a_request_that_fails_otherwise_than_by_timeout_breaks_its_invariant() {
        let mut run = clean();
        run.incarnations[4] = incarnation(
            "chaos-requester",
            &[
                (20, "request 1 sent"),
                (25, "request 1 failed the connection is closed"),
                (30, "request 2 sent"),
                (35, "request 2 answered"),
            ],
        );
        assert_eq!(
            invariants(&run),
            ["every request is answered or fails with a timeout error"]
        );
    }

    #[test]
    fn a_heartbeat_gap_is_excused_only_across_a_fault_of_the_service_or_the_broker() {
        let mut run = clean();
        let topic = "system/keepalive/chaos-ordered";
        run.observed
            .retain(|o| !(o.topic == topic && (10_000..14_000).contains(&(o.at_ms - T0))));
        assert_eq!(invariants(&run), ["a live service's heartbeat never gaps more than 2 intervals, except across its own kill, pause or cut"]);
        run.faults.push(Applied {
            fault: Fault::Cut(0),
            started_ms: T0 + 10_500,
            ended_ms: T0 + 10_500,
        });
        assert_eq!(
            invariants(&run).len(),
            1,
            "another service's cut excuses nothing"
        );
        run.faults.push(Applied {
            fault: Fault::BrokerPause(Duration::from_secs(3)),
            started_ms: T0 + 10_500,
            ended_ms: T0 + 13_500,
        });
        assert_eq!(invariants(&run), [] as [&str; 0]);
    }

    #[test]
    fn bad_endings_are_reported() {
        let mut run = clean();
        run.final_health[3] = (3, Some(false), "lost".to_owned());
        run.max_rss_kib[2] = MEMORY_BOUND_KIB + 1;
        run.incarnations[1]
            .output
            .push_str("thread 'main' panicked at src/main.rs:1:1\n");
        run.incarnations[2].ended_by = Some("by itself");
        run.incarnations[3].exit_code = Some(1);
        assert_eq!(
            invariants(&run),
            [
                "health ends ok",
                "resident memory stays within its bound",
                "no panic appears in any log",
                "no service exits unless stopped",
                "a graceful stop exits 0",
            ]
        );
    }
}
