#[tars::handler(topic = "stt/final")]
struct Speak;

fn main() {}
