#[derive(tars::Settings)]
struct TtsSettings {
    #[setting(env = "tts-voice")]
    voice: String,
}

fn main() {}
