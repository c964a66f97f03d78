//! The broker a command talks to: `--url`/`MQTT_URL`, `--mqtt-version`/`MQTT_VERSION`,
//! validated by the library's own rules, and a connection that gives up (exit 1) when
//! the broker cannot be reached in time.

use std::time::Duration;

use clap::Args;
use tars::{Client, Config, Message, MqttVersion, QoS};
use tokio::sync::mpsc;

use crate::Failure;

/// Messages buffered between the connection and a command before the connection waits.
const RECEIVED_BUFFER: usize = 1024;

/// Where the broker is; every command takes these.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// The broker, e.g. mqtt://user:pass@localhost:1883 [default: MQTT_URL].
    #[arg(long, global = true, env = "MQTT_URL", hide_env_values = true)]
    url: Option<String>,
    /// The MQTT version to speak, 3.1.1 or 5 [default: MQTT_VERSION, else 3.1.1].
    #[arg(long, global = true, env = "MQTT_VERSION", hide_env_values = true)]
    mqtt_version: Option<String>,
    /// How long to try to reach the broker before giving up with exit code 1.
    #[arg(long, global = true, default_value = "5s", value_parser = crate::parse_duration)]
    connect_timeout: Duration,
}

impl BrokerArgs {
    /// The broker, validated; an error says which option or variable is wrong.
    pub fn resolve(&self) -> Result<Broker, Failure> {
        let url = self.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let Some(url) = url else {
            return Err(Failure::Input(
                "no broker given: pass --url or set MQTT_URL, e.g. mqtt://localhost:1883".into(),
            ));
        };
        let version = match self.mqtt_version.as_deref().map(str::trim) {
            None | Some("") => MqttVersion::default(),
            Some(raw) => raw.parse().map_err(|rule| {
                Failure::Input(format!(
                    "--mqtt-version/MQTT_VERSION={raw:?} is invalid: {rule}"
                ))
            })?,
        };
        let client_id = format!("tars-cli-{}", &tars::new_id()[..8]);
        let config = Config::builder(url, client_id)
            .mqtt_version(version)
            .build()
            .map_err(|error| Failure::Input(format!("--url/{error}")))?;
        Ok(Broker {
            config,
            connect_timeout: self.connect_timeout,
        })
    }
}

/// A validated broker to connect to.
#[derive(Debug, Clone)]
pub struct Broker {
    config: Config,
    connect_timeout: Duration,
}

impl Broker {
    /// The broker's URL (or list) with passwords masked.
    pub fn display_url(&self) -> String {
        self.config.brokers_display()
    }

    /// The MQTT version spoken.
    pub fn mqtt_version(&self) -> MqttVersion {
        self.config.mqtt_version()
    }

    /// Connects without subscribing.
    pub async fn connect(&self) -> Result<Client, Failure> {
        self.finish(Client::builder(self.config.clone())).await
    }

    /// Connects with `filters` subscribed before the first message can arrive (so no
    /// retained message is missed); their messages come on the receiver, in order.
    pub async fn subscribe(
        &self,
        filters: &[&str],
    ) -> Result<(Client, mpsc::Receiver<Message>), Failure> {
        let (sender, received) = mpsc::channel(RECEIVED_BUFFER);
        let mut builder = Client::builder(self.config.clone());
        for filter in filters {
            tars::topic::validate_filter(filter).map_err(|error| {
                Failure::Input(format!("{filter:?} is not a valid topic filter: {error}"))
            })?;
            let sender = sender.clone();
            builder = builder.subscribe(filter, QoS::AtLeastOnce, move |message: Message| {
                let sender = sender.clone();
                async move {
                    // The command stopped listening: nothing is lost that it wanted.
                    let _ = sender.send(message).await;
                }
            });
        }
        Ok((self.finish(builder).await?, received))
    }

    async fn finish(&self, builder: tars::ClientBuilder) -> Result<Client, Failure> {
        match tokio::time::timeout(self.connect_timeout, builder.connect()).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(error)) => Err(Failure::Runtime(format!(
                "could not use the broker at {}: {error}",
                self.display_url()
            ))),
            Err(_) => Err(Failure::Runtime(format!(
                "cannot reach the broker at {} (gave up after {:?}; --connect-timeout sets how long to try)",
                self.display_url(),
                self.connect_timeout
            ))),
        }
    }

    /// What the fleet's AsyncAPI document says about the broker.
    pub fn asyncapi_info(&self) -> tars::asyncapi::ServiceInfo {
        tars::asyncapi::ServiceInfo {
            name: "tars fleet".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            mqtt_version: self.mqtt_version(),
            broker: Some(self.config.broker().clone()),
            // The manifests carry each handler's policy as it applies.
            failure_defaults: tars::FailurePolicy::default(),
        }
    }
}
