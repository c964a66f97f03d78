//! A `#[tars::service]` for the failure-policy tests. `flaky/jobs` (QoS 1) prints
//! `attempt PAYLOAD` for each attempt (unless `QUIET=1`) and fails it while `FAIL=1`
//! (the default); otherwise it prints `handled PAYLOAD`. Its failure policy is the
//! service-wide one: `TARS_RETRIES`, `TARS_BACKOFF`, `TARS_DEAD_LETTER_TOPIC`.

use std::io::Write;

use tars::Message;

#[tars::handler(topic = "flaky/jobs", qos = 1)]
async fn flaky(message: Message) -> Result<(), String> {
    let job = String::from_utf8_lossy(message.payload()).into_owned();
    let quiet = flag("QUIET", false);
    if !quiet {
        say(&format!("attempt {job}"));
    }
    if flag("FAIL", true) {
        return Err(format!("{job} failed on purpose"));
    }
    if !quiet {
        say(&format!("handled {job}"));
    }
    Ok(())
}

#[tars::service(name = "flaky-service")]
async fn main() {}

fn flag(name: &str, default: bool) -> bool {
    std::env::var(name).map_or(default, |v| v == "1")
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
