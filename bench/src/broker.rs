//! The brokers a benchmark runs against, each on a free loopback port of its own.

use std::fmt;

use tars::broker::EmbeddedBroker;
use tars_tests::Mosquitto;

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// A mosquitto process.
    Mosquitto,
    /// rumqttd inside this process (`tars::broker`).
    Embedded,
}

impl BrokerKind {
    /// Every broker, in table order.
    pub const ALL: [BrokerKind; 2] = [BrokerKind::Mosquitto, BrokerKind::Embedded];

    /// Parses `mosquitto` or `embedded`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "mosquitto" => Some(Self::Mosquitto),
            "embedded" => Some(Self::Embedded),
            _ => None,
        }
    }

    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mosquitto => "mosquitto",
            Self::Embedded => "embedded",
        }
    }
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// mosquitto settings for bursts: no limit on the QoS 1 queue towards a subscriber
/// (the default, 1000, drops a burst of 100k that the subscriber has not read yet).
const MOSQUITTO_CONFIG: &str = "allow_anonymous true\nmax_queued_messages 0\n";

/// A running broker.
pub enum Broker {
    /// A mosquitto process, killed on drop.
    Mosquitto(Mosquitto),
    /// The embedded broker.
    Embedded(EmbeddedBroker),
}

impl Broker {
    /// Starts a broker of this kind on a free loopback port.
    pub async fn start(kind: BrokerKind) -> std::io::Result<Self> {
        Ok(match kind {
            BrokerKind::Mosquitto => Self::Mosquitto(Mosquitto::start_with(MOSQUITTO_CONFIG)),
            BrokerKind::Embedded => Self::Embedded(EmbeddedBroker::start().await?),
        })
    }

    /// Its loopback port.
    pub fn port(&self) -> u16 {
        match self {
            Self::Mosquitto(broker) => broker.port(),
            Self::Embedded(broker) => broker.port(),
        }
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port())
    }

    /// Stops it.
    pub async fn stop(self) {
        match self {
            Self::Mosquitto(mut broker) => broker.stop(),
            Self::Embedded(broker) => broker.stop().await,
        }
    }
}
