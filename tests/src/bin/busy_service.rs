//! A `#[tars::service]` for the liveness tests. `busy/work` (QoS 1) takes `BUSY_MS`
//! milliseconds per message (default 1500) and prints `started PAYLOAD` and
//! `handled PAYLOAD`; `acc/ping` (QoS 1) prints `pinged PAYLOAD` (the ACL tests deny it).

use std::io::Write;
use std::time::Duration;

use tars::Message;

#[tars::handler(topic = "busy/work", qos = 1)]
async fn work(message: Message) {
    let job = String::from_utf8_lossy(message.payload()).into_owned();
    say(&format!("started {job}"));
    tokio::time::sleep(busy()).await;
    say(&format!("handled {job}"));
}

#[tars::handler(topic = "acc/ping", qos = 1)]
async fn ping(message: Message) {
    say(&format!(
        "pinged {}",
        String::from_utf8_lossy(message.payload())
    ));
}

#[tars::service(name = "busy-service")]
async fn main() {}

fn busy() -> Duration {
    let ms = std::env::var("BUSY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(1500);
    Duration::from_millis(ms)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
