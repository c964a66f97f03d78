//! The chaos fleet's responder: answers each ping with a pong of the same number.

tars_tests::chaos_event!(Ping, "chaos/ping", "chaos.ping");
tars_tests::chaos_event!(Pong, "chaos/pong", "chaos.pong");

#[tars::handler(qos = 1)]
async fn answer(ping: Ping) -> Pong {
    Pong { n: ping.n }
}

#[tars::service(name = "chaos-responder")]
async fn main() {}
