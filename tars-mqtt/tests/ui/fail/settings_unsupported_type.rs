#[derive(tars::Settings)]
#[settings(prefix = "TTS_")]
struct TtsSettings {
    address: std::net::SocketAddr,
}

fn main() {}
