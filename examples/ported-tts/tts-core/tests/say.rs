//! The handlers, against a broker inside the test process.

use tars::testing::{TestBroker, TestClient, TestService};
use tars::Settings;
use tts_core::{TtsSay, TtsSettings, TtsSpoken, Voice, DEFAULT_VOICE};

/// The worker's handlers with their state, and settings from pairs.
async fn start(broker: &TestBroker, handlers: &[&str], settings: &[(&str, &str)]) -> TestService {
    let settings = TtsSettings::from_pairs(settings).expect("valid settings");
    TestService::with_builder(broker, handlers, |b| {
        b.state(Voice::default()).state(settings)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_spoken_in_the_default_voice() {
    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await;
    let _service = start(&broker, &["say"], &[]).await;
    let id = bus
        .publish(&TtsSay {
            text: "hello there".into(),
            voice: None,
        })
        .await;
    let spoken = bus.next_event::<TtsSpoken>().await;
    assert_eq!(spoken.id, id);
    assert_eq!(spoken.data.voice, DEFAULT_VOICE);
    assert_eq!(spoken.data.duration_ms, 750, "two words at 160 a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_voice_speaks_the_next_requests() {
    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await;
    let _service = start(
        &broker,
        &["select_voice", "say"],
        &[("TTS_WORDS_PER_MINUTE", "120")],
    )
    .await;
    bus.publish_raw("tts/voice", "robot").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    bus.publish(&TtsSay {
        text: "beep".into(),
        voice: None,
    })
    .await;
    let spoken = bus.next_event::<TtsSpoken>().await.data;
    assert_eq!((spoken.voice.as_str(), spoken.duration_ms), ("robot", 500));
}

#[test]
fn bad_settings_name_their_variable() {
    let error = TtsSettings::from_pairs(&[("TTS_WORDS_PER_MINUTE", "9000")]).unwrap_err();
    assert_eq!(error.variable(), "TTS_WORDS_PER_MINUTE");
    assert!(
        error.to_string().contains("must be from 80 to 400"),
        "{error}"
    );
}
