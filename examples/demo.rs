//! The zero-install demo: an embedded MQTT broker, the voice pipeline of
//! `examples/pipeline.rs` running on it as a service, a stand-in for the Python STT
//! service driving it, and everything on the bus printed as a readable trace. Then a
//! graceful shutdown. Nothing to install, nothing to configure:
//!
//! ```sh
//! cargo run --example demo
//! ```
//!
//! The same service runs against a real broker with
//! `MQTT_URL=mqtt://localhost:1883 cargo run --example pipeline`.
//!
//! With `TARS_METRICS_ADDR=127.0.0.1:9464` the service also serves its metrics and
//! health probes there (see `docs/observability.md`); the demo says where, and prints
//! its handler counts at the end.

#[allow(dead_code)]
#[path = "pipeline.rs"]
mod pipeline;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use pipeline::{SttFinal, TtsSay};
use tars::broker::EmbeddedBroker;
use tars::{Client, Config, Message, PublishOptions, QoS};
use tokio::sync::mpsc;

const SERVICE: &str = "tars-pipeline";
const WAIT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    // Only warnings, so that the trace below stays readable; rumqttd reports ordinary
    // disconnections as errors, so it is silenced.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,rumqttd=off".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("demo failed: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let broker = EmbeddedBroker::start()
        .await
        .map_err(|e| format!("embedded broker: {e}"))?;
    println!(
        "tars demo: stt -> llm -> tts on an embedded MQTT broker at {}\n",
        broker.url()
    );
    let (trace, mut seen) = Trace::start(&broker.url()).await?;

    let mut config = Config::builder(broker.url(), SERVICE)
        .enable_health(true)
        .enable_heartbeat(true)
        .heartbeat_interval(Duration::from_secs(1));
    let metrics_addr = metrics_addr()?;
    if let Some(addr) = metrics_addr {
        config = config.metrics_addr(addr);
        println!("metrics: http://{addr}/metrics (health: /healthz, readiness: /readyz)\n");
    }
    let config = config.build().map_err(|e| e.to_string())?;
    let service = Client::builder(config)
        .with_registered_handlers()
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    seen.wait_for("health ready", |m| {
        m.topic() == "system/health/tars-pipeline"
    })
    .await?;

    // A stand-in for the Python STT service, publishing envelopes as it would.
    let stt_config = Config::builder(broker.url(), "stt-demo")
        .source_name("python-stt")
        .build();
    let stt = Client::connect(stt_config.map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let reliable = || PublishOptions::new().qos(QoS::AtLeastOnce);

    stt.publish_bytes("pipeline/voice/robot", QoS::AtLeastOnce, false, "{}")
        .await
        .map_err(|e| e.to_string())?;
    let mut request_ids = Vec::new();
    for (text, confidence) in [
        ("Hello?", 0.92),
        ("mumble mumble", 0.31),
        ("What time is it?", 0.88),
    ] {
        let transcript = SttFinal {
            text: text.into(),
            confidence,
        };
        let id = stt
            .publish_event("stt/final", "stt.final", &transcript, reliable())
            .await
            .map_err(|e| e.to_string())?;
        if confidence >= 0.5 {
            let say = seen.wait_for("tts/say", |m| m.topic() == "tts/say").await?;
            let reply: tars::Envelope<TtsSay> = say.envelope().map_err(|e| e.to_string())?;
            if reply.id != id {
                return Err(format!(
                    "the reply {} does not carry the request id {id}",
                    reply.id
                ));
            }
            request_ids.push(id);
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    seen.wait_for("a heartbeat", |m| {
        m.topic() == "system/keepalive/tars-pipeline"
    })
    .await?;

    if metrics_addr.is_some() {
        println!("\nthe service's handler counts, from its metrics:");
        for line in service.metrics_text().lines() {
            if line.starts_with("tars_handler_messages_total") && !line.ends_with(" 0") {
                println!("  {line}");
            }
        }
    }

    println!("\nshutting the service down gracefully...");
    service.shutdown().await.map_err(|e| e.to_string())?;
    let shutdown = seen
        .wait_for("health shutdown", |m| {
            m.topic() == "system/health/tars-pipeline"
        })
        .await?;
    let status: tars::Envelope<tars::health::HealthStatus> =
        shutdown.envelope().map_err(|e| e.to_string())?;
    if status.data.event.as_deref() != Some("shutdown") {
        return Err(format!(
            "expected health shutdown, got {:?}",
            status.data.event
        ));
    }
    stt.shutdown().await.map_err(|e| e.to_string())?;
    trace.shutdown().await.map_err(|e| e.to_string())?;
    broker.stop().await;
    println!(
        "\ndone: {} replies, each carrying the id of the transcript it answers; health went ready -> shutdown.",
        request_ids.len()
    );
    Ok(())
}

/// `TARS_METRICS_ADDR`, when set.
fn metrics_addr() -> Result<Option<std::net::SocketAddr>, String> {
    match std::env::var("TARS_METRICS_ADDR") {
        Ok(raw) if !raw.trim().is_empty() => raw.trim().parse().map(Some).map_err(|_| {
            format!("TARS_METRICS_ADDR={raw:?} is invalid: must be an IP address and port, e.g. 127.0.0.1:9464")
        }),
        _ => Ok(None),
    }
}

/// Prints every message on the bus and lets the demo wait for the ones it expects.
struct Trace;

struct Seen(mpsc::UnboundedReceiver<Message>);

impl Seen {
    async fn wait_for(
        &mut self,
        what: &str,
        wanted: impl Fn(&Message) -> bool,
    ) -> Result<Message, String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.0.recv()).await {
                Ok(Some(message)) if wanted(&message) => return Ok(message),
                Ok(Some(_)) => continue,
                _ => return Err(format!("no {what} within {WAIT:?}")),
            }
        }
    }
}

impl Trace {
    async fn start(url: &str) -> Result<(Client, Seen), String> {
        let config = Config::builder(url, "demo-trace")
            .build()
            .map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::unbounded_channel();
        let started = Instant::now();
        let client = Client::builder(config)
            .subscribe("#", QoS::AtLeastOnce, move |message: Message| {
                println!("{}", describe(&message, started.elapsed()));
                let _ = tx.send(message);
                async {}
            })
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        Ok((client, Seen(rx)))
    }
}

/// One line per message: time, topic, and the envelope or heartbeat in short.
fn describe(message: &Message, at: Duration) -> String {
    let head = format!("{:>7.3}s  {:<32}", at.as_secs_f64(), message.topic());
    if let Ok(envelope) = message.envelope::<serde_json::Value>() {
        let data = if envelope.event_type == "health.status" {
            let ok = envelope.data["ok"].as_bool().unwrap_or(false);
            let event = envelope.data["event"].as_str().unwrap_or("-");
            format!("ok={ok} event={event}")
        } else {
            envelope.data.to_string()
        };
        let short_id = envelope.id.get(..8).unwrap_or(&envelope.id);
        format!(
            "{head} {:<14} id={short_id} from {:<14} {data}",
            envelope.event_type, envelope.source
        )
    } else {
        format!("{head} {}", String::from_utf8_lossy(message.payload()))
    }
}
