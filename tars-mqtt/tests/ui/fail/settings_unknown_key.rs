#[derive(tars::Settings)]
#[settings(prefix = "TTS_")]
struct TtsSettings {
    #[setting(defualt = "amy")]
    voice: String,
}

fn main() {}
