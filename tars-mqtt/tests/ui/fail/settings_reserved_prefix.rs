#[derive(tars::Settings)]
struct TtsSettings {
    #[setting(env = "MQTT_VOICE")]
    voice: String,
}

fn main() {}
