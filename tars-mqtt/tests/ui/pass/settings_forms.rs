//! Every settings form: prefix, own variable names, defaults, ranges, durations, lists,
//! optional values and secrets, read from pairs.

use std::time::Duration;

use tars::Settings;

#[derive(tars::Settings, Debug)]
#[settings(prefix = "TTS_")]
struct TtsSettings {
    /// Speaking rate.
    #[setting(default = "160", min = 80, max = 400)]
    words_per_minute: u32,
    #[setting(default = "0.5", min = 0.0, max = 1.0)]
    volume: f32,
    #[setting(default = "5s")]
    timeout: Duration,
    #[setting(default = "amy, robot")]
    voices: Vec<String>,
    #[setting(env = "SPEAKER_DEVICE")]
    device: Option<String>,
    api_key: tars::Secret,
    #[setting(default = "yes")]
    cache: bool,
}

fn main() {
    let settings = TtsSettings::from_pairs(&[("TTS_API_KEY", "k"), ("SPEAKER_DEVICE", "hw:1")]).unwrap();
    assert_eq!(settings.words_per_minute, 160);
    assert_eq!(settings.timeout, Duration::from_secs(5));
    assert_eq!(settings.voices, ["amy", "robot"]);
    assert_eq!(settings.device.as_deref(), Some("hw:1"));
    assert!(settings.cache && (settings.volume - 0.5).abs() < f32::EPSILON);
    assert_eq!(settings.api_key.expose(), "k");
    let names: Vec<&str> = TtsSettings::VARIABLES.iter().map(|v| v.name).collect();
    assert_eq!(names[..2], ["TTS_WORDS_PER_MINUTE", "TTS_VOLUME"]);
    assert_eq!(TtsSettings::VARIABLES[0].meaning, "Speaking rate.");
    let missing = TtsSettings::from_pairs(&[]).unwrap_err();
    assert_eq!(missing.variable(), "TTS_API_KEY");
}
