#[derive(tars::Settings)]
#[settings(prefix = "TTS_")]
struct TtsSettings {
    #[setting(default = "160", min = "80")]
    words_per_minute: u32,
}

fn main() {}
