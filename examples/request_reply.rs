//! Request/reply: a responder answers by returning an event; a requester awaits each
//! answer with `request`, many at once, each resolving to its own reply (matched by the
//! envelope id, as the Python stack correlates).
//!
//! It uses `MQTT_URL` when set, else an embedded broker.
//!
//! ```sh
//! cargo run --example request_reply
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "weather/request", qos = 1)]
struct WeatherRequest {
    city: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "weather/report", qos = 1)]
struct WeatherReport {
    city: String,
    celsius: i32,
}

/// The responder: returning the report replies to the request.
#[tars::handler(qos = 1, concurrency = 8)]
async fn forecast(request: WeatherRequest) -> WeatherReport {
    tokio::time::sleep(Duration::from_millis(20)).await; // a slow lookup
    let celsius = request.city.len() as i32 * 3;
    WeatherReport {
        city: request.city,
        celsius,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tars_examples::init_logging();
    let (url, _broker) = tars_examples::broker_url().await?;
    let responder = Client::builder(Config::builder(&url, "weather-service").build()?)
        .with_registered_handlers()
        .connect()
        .await?;
    let requester = Client::connect(
        Config::builder(&url, "weather-client")
            .request_timeout(Duration::from_secs(5))
            .build()?,
    )
    .await?;

    let cities = ["Oslo", "Lima", "Nairobi", "Kyoto", "Reykjavik", "Quito"];
    let mut asking = tokio::task::JoinSet::new();
    for city in cities {
        let requester = requester.clone();
        asking.spawn(async move {
            let report: WeatherReport = requester
                .request(&WeatherRequest { city: city.into() })
                .await?;
            Ok::<_, tars::Error>((city, report))
        });
    }
    let mut answered = 0;
    while let Some(answer) = asking.join_next().await {
        let (city, report) = answer??;
        assert_eq!(report.city, city, "each request gets its own reply");
        println!("{city}: {} °C", report.celsius);
        answered += 1;
    }
    println!("request_reply: {answered} requests, {answered} matching replies");
    requester.shutdown().await?;
    responder.shutdown().await?;
    Ok(())
}
