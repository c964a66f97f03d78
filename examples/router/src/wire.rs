//! The router on the bus: each subscription decodes its event as the Python
//! dispatcher does, hands it to the [`Router`], and publishes what it decides.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::de::DeserializeOwned;
use tars::{Context, HandlerOptions, Message, PublishOptions, QoS};
use tars_contracts::health::HealthPing;

use crate::policy::{Action, Now, Router};

/// The ordered group of every subscription: one message at a time, in arrival order
/// across topics, as the Python dispatcher's single worker handles them.
pub const GROUP: &str = "router";

/// The `source` of the router's events, as py-tars's `publish_event` writes it (its
/// client's own health keeps the client id, `tars-router`).
pub const SOURCE: &str = "router";

/// The router shared by the subscriptions, with the start of its monotonic clock.
pub struct Shared {
    router: Mutex<Router>,
    started: Instant,
}

impl Shared {
    /// The router, ready to be served.
    pub fn new(router: Router) -> Arc<Self> {
        Arc::new(Self {
            router: Mutex::new(router),
            started: Instant::now(),
        })
    }

    fn now(&self) -> Now {
        Now {
            monotonic: self.started.elapsed().as_secs_f64(),
            wall: tars::now_ts(),
            local_time: chrono::Local::now().format("%-I:%M %p").to_string(),
        }
    }
}

/// The event in a message: the `data` of its envelope, or, as py-tars's dispatcher
/// falls back to, the whole payload. `None` (logged) when neither is a `T`.
pub fn decode<T: DeserializeOwned>(message: &Message) -> Option<T> {
    if let Ok(envelope) = message.envelope::<T>() {
        return Some(envelope.data);
    }
    match serde_json::from_slice::<T>(message.payload()) {
        Ok(event) => Some(event),
        Err(error) => {
            tracing::warn!(topic = message.topic(), %error, "message skipped: not the topic's event");
            None
        }
    }
}

/// Publishes what the router decided: an envelope of the action's type on its topic,
/// whose id is the id of the event it answers (a fresh one when that is empty).
pub async fn publish(ctx: &Context, router: &Shared, actions: Vec<Action>) {
    for action in actions {
        let (event_type, data, correlate) = match action {
            Action::Say { say, correlate } => ("tts.say", serde_json::to_value(say), correlate),
            Action::Ask { request, correlate } => {
                ("llm.request", serde_json::to_value(request), correlate)
            }
            Action::MovementLost { request } => {
                tracing::error!(
                    command = ?request.command,
                    "movement not published: py-tars publishes it with the topic movement/test as its envelope type, which its registry does not know (kept for wire parity; see README)"
                );
                continue;
            }
        };
        let topic = {
            let router = router.router.lock().unwrap_or_else(|p| p.into_inner());
            router.settings().topic_of(event_type).map(str::to_owned)
        };
        let (Some(topic), Ok(data)) = (topic, data) else {
            tracing::error!(event_type, "no topic for the event type");
            continue;
        };
        let mut options = PublishOptions::new().qos(QoS::AtLeastOnce).source(SOURCE);
        if !correlate.is_empty() {
            options = options.correlation_id(correlate);
        }
        if let Err(error) = ctx.publish_event(&topic, event_type, &data, options).await {
            tracing::error!(%error, topic, "could not publish");
        }
    }
}

/// Subscribes `topic` for events of type `T`, each handed to `handle` with the router.
async fn route<T, F>(
    ctx: &Context,
    shared: &Arc<Shared>,
    topic: &str,
    qos: QoS,
    handle: F,
) -> tars::Result<()>
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(&mut Router, &T, &Now) -> Vec<Action> + Send + Sync + 'static,
{
    let shared = shared.clone();
    let handler = tars::handler_fn(move |message: Message, ctx: Context| {
        let shared = shared.clone();
        let decided = decode::<T>(&message).map(|event| {
            let now = shared.now();
            let mut router = shared.router.lock().unwrap_or_else(|p| p.into_inner());
            handle(&mut router, &event, &now)
        });
        async move {
            if let Some(actions) = decided {
                publish(&ctx, &shared, actions).await;
            }
        }
    });
    let options = HandlerOptions {
        group: Some(GROUP.into()),
        ..HandlerOptions::default()
    };
    ctx.subscribe_handler_with(topic, qos, options, handler)
        .await
}

/// Subscribes every topic the router listens to, as py-tars's router does (QoS 1, the
/// movement status at QoS 0).
pub async fn subscribe_all(ctx: &Context, shared: &Arc<Shared>) -> tars::Result<()> {
    let s = shared
        .router
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .settings()
        .clone();
    let q1 = QoS::AtLeastOnce;
    route(
        ctx,
        shared,
        &s.topic_health_tts,
        q1,
        |r, ping: &HealthPing, _| r.on_health("tts", ping),
    )
    .await?;
    route(
        ctx,
        shared,
        &s.topic_health_stt,
        q1,
        |r, ping: &HealthPing, _| r.on_health("stt", ping),
    )
    .await?;
    route(ctx, shared, &s.topic_stt_final, q1, |r, event, now| {
        r.on_transcript(event, now)
    })
    .await?;
    route(ctx, shared, &s.topic_llm_resp, q1, |r, event, now| {
        r.on_response(event, now)
    })
    .await?;
    route(ctx, shared, &s.topic_llm_stream, q1, |r, event, _| {
        r.on_stream(event)
    })
    .await?;
    route(ctx, shared, &s.topic_llm_cancel, q1, |r, event, _| {
        r.on_cancel(event)
    })
    .await?;
    route(ctx, shared, &s.topic_wake_event, q1, |r, event, now| {
        r.on_wake(event, now)
    })
    .await?;
    route(ctx, shared, &s.topic_tts_status, q1, |r, event, now| {
        r.on_tts_status(event, now)
    })
    .await?;
    route(
        ctx,
        shared,
        &s.topic_movement_status,
        QoS::AtMostOnce,
        |r, event, _| r.on_movement_status(event),
    )
    .await
}

/// Says the router is ready, as py-tars's router does after connecting:
/// `HealthPing(ok=True, event="ready")`, retained, on `system/health/router`.
pub async fn announce_ready(ctx: &Context, shared: &Shared) -> tars::Result<()> {
    let topic = shared
        .router
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .settings()
        .topic_health_router
        .clone();
    let mut ping = HealthPing::new(true);
    ping.event = Some("ready".to_owned());
    let options = PublishOptions::new()
        .qos(QoS::AtLeastOnce)
        .retain(true)
        .source(SOURCE);
    ctx.publish_event(&topic, "system.health.router", &ping, options)
        .await
        .map(|_| ())
}
