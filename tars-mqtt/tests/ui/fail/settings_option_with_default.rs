#[derive(tars::Settings)]
#[settings(prefix = "TTS_")]
struct TtsSettings {
    #[setting(default = "amy")]
    voice: Option<String>,
}

fn main() {}
