//! The chaos fleet's ordered subscriber: both topics of the stream in one ordered group
//! (one message at a time, in arrival order across both), recording each item.

use tars_tests::chaos::events::record;

tars_tests::chaos_event!(StreamA, "chaos/stream/a", "chaos.stream");
tars_tests::chaos_event!(StreamB, "chaos/stream/b", "chaos.stream");

#[tars::handler(qos = 1, group = "stream")]
async fn on_a(item: StreamA) {
    record(format_args!("handled stream {}", item.n));
}

#[tars::handler(qos = 1, group = "stream")]
async fn on_b(item: StreamB) {
    record(format_args!("handled stream {}", item.n));
}

#[tars::service(name = "chaos-ordered")]
async fn main() {}
