//! The handlers, against a broker inside the test process.

use tars::testing::{TestBroker, TestClient, TestService};
use tts_core::{TtsSay, TtsSpoken, DEFAULT_VOICE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_spoken_in_the_default_voice() {
    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await;
    let _service = TestService::with_handlers(&broker, &["say"]).await;
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
