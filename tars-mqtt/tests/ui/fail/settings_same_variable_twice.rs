#[derive(tars::Settings)]
#[settings(prefix = "TTS_")]
struct TtsSettings {
    voice: String,
    #[setting(env = "TTS_VOICE")]
    fallback_voice: String,
}

fn main() {}
