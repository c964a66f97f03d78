//! The handlers, against a broker inside the test process.

use tars::testing::{TestBroker, TestClient, TestService};
use tts_core::{TtsSay, TtsSpoken, Voice, DEFAULT_VOICE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_spoken_in_the_default_voice() {
    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await;
    let _service = TestService::with_state(&broker, &["say"], Voice::default()).await;
    let id = bus
        .publish(&TtsSay {
            text: "hello there".into(),
            voice: None,
        })
        .await;
    let spoken = bus.next_event::<TtsSpoken>().await;
    assert_eq!(spoken.id, id);
    assert_eq!(spoken.data.voice, DEFAULT_VOICE);
    assert_eq!(spoken.data.duration_ms, 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_voice_speaks_the_next_requests() {
    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await;
    let _service =
        TestService::with_state(&broker, &["select_voice", "say"], Voice::default()).await;
    bus.publish_raw("tts/voice", "robot").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    bus.publish(&TtsSay {
        text: "beep".into(),
        voice: None,
    })
    .await;
    assert_eq!(bus.next_event::<TtsSpoken>().await.data.voice, "robot");
}
