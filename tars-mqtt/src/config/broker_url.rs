//! Parsing of `MQTT_URL`: `scheme://[user[:password]@]host[:port][/path]`, or several
//! of them separated by commas (a broker list, tried in order).

use std::fmt;

use percent_encoding::percent_decode_str;

use super::{ConfigError, Secret};

const VARIABLE: &str = "MQTT_URL";
const SCHEMES: &str = "mqtt://, tcp://, mqtts://, ssl://, ws:// or wss://";
const DEFAULT_WS_PATH: &str = "/mqtt";

/// How the connection to the broker is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP (`mqtt://`, `tcp://`), default port 1883.
    Tcp,
    /// TLS over TCP (`mqtts://`, `ssl://`), default port 8883.
    Tls,
    /// WebSocket (`ws://`), default port 80, default path `/mqtt`.
    Ws,
    /// WebSocket over TLS (`wss://`), default port 443, default path `/mqtt`.
    Wss,
}

impl Transport {
    fn from_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "mqtt" | "tcp" => Some(Self::Tcp),
            "mqtts" | "ssl" => Some(Self::Tls),
            "ws" => Some(Self::Ws),
            "wss" => Some(Self::Wss),
            _ => None,
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tcp => 1883,
            Self::Tls => 8883,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }

    /// Whether the transport is encrypted.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    fn scheme(self) -> &'static str {
        match self {
            Self::Tcp => "mqtt",
            Self::Tls => "mqtts",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }
}

/// Where and how to reach the broker, parsed from `MQTT_URL`.
///
/// `Display` and `Debug` never show the password.
///
/// ```
/// let url: tars::BrokerUrl = "mqtt://svc:p%40ss@broker.local".parse()?;
/// assert_eq!(url.port, 1883);
/// assert_eq!(url.password.as_ref().map(|p| p.expose()), Some("p@ss"));
/// assert_eq!(url.to_string(), "mqtt://svc:***@broker.local:1883");
/// # Ok::<(), tars::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BrokerUrl {
    /// TCP, TLS or WebSocket.
    pub transport: Transport,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port, the transport's default when the URL names none.
    pub port: u16,
    /// User name, percent-decoded.
    pub username: Option<String>,
    /// Password, percent-decoded.
    pub password: Option<Secret>,
    /// WebSocket path (`/mqtt` unless the URL names one); `None` for TCP and TLS.
    pub path: Option<String>,
}

impl BrokerUrl {
    /// The WebSocket URL tars connects to (`ws://host:port/path`).
    pub(crate) fn websocket_url(&self) -> String {
        let path = self.path.as_deref().unwrap_or(DEFAULT_WS_PATH);
        format!(
            "{}://{}:{}{}",
            self.transport.scheme(),
            self.host_for_url(),
            self.port,
            path
        )
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.transport.scheme())?;
        match (&self.username, &self.password) {
            (Some(user), Some(_)) => write!(f, "{user}:***@")?,
            (Some(user), None) => write!(f, "{user}@")?,
            _ => {}
        }
        write!(f, "{}:{}", self.host_for_url(), self.port)?;
        if let Some(path) = &self.path {
            f.write_str(path)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for BrokerUrl {
    type Err = ConfigError;

    fn from_str(raw: &str) -> Result<Self, ConfigError> {
        parse(raw)
    }
}

/// Parses an `MQTT_URL` that may list several brokers, comma-separated. An error names
/// the position of the bad entry when there are several, with its password masked.
pub(crate) fn parse_list(raw: &str) -> Result<Vec<BrokerUrl>, ConfigError> {
    let entries: Vec<&str> = raw.split(',').map(str::trim).collect();
    let count = entries.len();
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let parsed = if entry.is_empty() {
                Err(invalid(
                    raw,
                    "an entry is empty (two commas, or a comma at an end)",
                ))
            } else {
                parse(entry)
            };
            parsed.map_err(|error| match error {
                ConfigError::Invalid {
                    variable,
                    value,
                    rule,
                } if count > 1 => ConfigError::Invalid {
                    variable,
                    value,
                    rule: format!("entry {} of {count}: {rule}", index + 1),
                },
                other => other,
            })
        })
        .collect()
}

/// Replaces the password of each URL of a list, well-formed or not, with `***`.
pub(crate) fn redact(raw: &str) -> String {
    raw.split(',').map(redact_one).collect::<Vec<_>>().join(",")
}

fn redact_one(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_owned();
    };
    let authority_start = scheme_end + 3;
    let Some(at) = raw[authority_start..].rfind('@') else {
        return raw.to_owned();
    };
    let at = authority_start + at;
    let userinfo = &raw[authority_start..at];
    match userinfo.find(':') {
        Some(colon) => format!("{}:***{}", &raw[..authority_start + colon], &raw[at..]),
        None => raw.to_owned(),
    }
}

fn invalid(raw: &str, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable: VARIABLE,
        value: redact(raw),
        rule: rule.into(),
    }
}

fn decode(raw: &str, part: &str, what: &str) -> Result<String, ConfigError> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            invalid(
                raw,
                format!("the {what} must be UTF-8 once percent-decoded"),
            )
        })
}

fn parse(raw: &str) -> Result<BrokerUrl, ConfigError> {
    let trimmed = raw.trim();
    let url = url::Url::parse(trimmed).map_err(|e| {
        invalid(
            raw,
            format!("expected {SCHEMES} followed by [user:password@]host[:port] ({e})"),
        )
    })?;
    let transport = Transport::from_scheme(url.scheme()).ok_or_else(|| {
        invalid(
            raw,
            format!("unknown scheme `{}://`; expected {SCHEMES}", url.scheme()),
        )
    })?;
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(host) => host.to_string(),
        None => {
            return Err(invalid(
                raw,
                "a host is required, e.g. mqtt://localhost:1883",
            ))
        }
    };
    if host.is_empty() {
        return Err(invalid(
            raw,
            "a host is required, e.g. mqtt://localhost:1883",
        ));
    }
    let port = url.port().unwrap_or_else(|| transport.default_port());
    if port == 0 {
        return Err(invalid(raw, "the port must be between 1 and 65535"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            raw,
            "query parameters and fragments are not supported",
        ));
    }
    let path = match (transport.is_websocket(), url.path()) {
        (true, "" | "/") => Some(DEFAULT_WS_PATH.to_owned()),
        (true, path) => Some(path.to_owned()),
        (false, "" | "/") => None,
        (false, _) => {
            return Err(invalid(
                raw,
                "a path is only allowed for ws:// and wss:// URLs",
            ));
        }
    };
    let username = match url.username() {
        "" => None,
        user => Some(decode(raw, user, "user name")?),
    };
    let password = match url.password() {
        None => None,
        Some(pass) => Some(Secret::new(decode(raw, pass, "password")?)),
    };
    if username.is_none() && password.is_some() {
        return Err(invalid(
            raw,
            "a password needs a user name (user:password@host)",
        ));
    }
    Ok(BrokerUrl {
        transport,
        host,
        port,
        username,
        password,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> BrokerUrl {
        raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn rule(raw: &str) -> String {
        match raw.parse::<BrokerUrl>() {
            Err(ConfigError::Invalid { rule, .. }) => rule,
            other => panic!("{raw} should be invalid, got {other:?}"),
        }
    }

    #[test]
    fn every_scheme_has_its_transport_and_default_port() {
        for (raw, transport, port) in [
            ("mqtt://h", Transport::Tcp, 1883),
            ("tcp://h", Transport::Tcp, 1883),
            ("mqtts://h", Transport::Tls, 8883),
            ("ssl://h", Transport::Tls, 8883),
            ("ws://h", Transport::Ws, 80),
            ("wss://h", Transport::Wss, 443),
        ] {
            let url = ok(raw);
            assert_eq!((url.transport, url.port), (transport, port), "{raw}");
        }
    }

    #[test]
    fn explicit_port_and_ipv6_host_are_kept() {
        let url = ok("mqtt://[::1]:1999");
        assert_eq!((url.host.as_str(), url.port), ("::1", 1999));
        assert_eq!(url.to_string(), "mqtt://[::1]:1999");
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let url = ok("mqtt://us%20er:p%3Ass%40word@host:1884");
        assert_eq!(url.username.as_deref(), Some("us er"));
        assert_eq!(url.password.unwrap().expose(), "p:ss@word");
    }

    #[test]
    fn user_without_password_is_allowed() {
        let url = ok("mqtt://user@host");
        assert_eq!(url.username.as_deref(), Some("user"));
        assert!(url.password.is_none());
        assert_eq!(url.to_string(), "mqtt://user@host:1883");
    }

    #[test]
    fn websocket_path_defaults_to_mqtt() {
        assert_eq!(ok("ws://h:9001").websocket_url(), "ws://h:9001/mqtt");
        assert_eq!(ok("wss://h/custom").websocket_url(), "wss://h:443/custom");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert!(rule("http://host").contains("unknown scheme `http://`"));
        assert!(rule("localhost:1883").contains("unknown scheme"));
        assert!(rule("not a url").contains("expected mqtt://"));
        assert!(rule("mqtt://host:0").contains("port"));
        assert!(rule("mqtt://host:99999").contains("expected mqtt://"));
        assert!(rule("mqtt://host/path").contains("path"));
        assert!(rule("mqtt://host?x=1").contains("query"));
        assert!(rule("mqtt://:secret@host").contains("user name"));
    }

    #[test]
    fn password_never_appears_in_display_debug_or_errors() {
        let url = ok("mqtt://svc:TopSecret1@host");
        assert!(!url.to_string().contains("TopSecret1"));
        assert!(!format!("{url:?}").contains("TopSecret1"));
        for raw in [
            "mqtt://svc:TopSecret1@host:0",
            "http://svc:TopSecret1@host",
            "mqtt://svc:TopSecret1@host/x",
            "mqtt://svc:Top/Secret1@host",
            "mqtt://svc:TopSecret1@@host:bad",
        ] {
            let err = raw.parse::<BrokerUrl>().unwrap_err();
            assert!(!err.to_string().contains("Secret1"), "{raw}: {err}");
            assert!(!format!("{err:?}").contains("Secret1"), "{raw}: {err:?}");
        }
    }

    #[test]
    fn a_list_parses_in_order_and_names_the_bad_entry() {
        let list = parse_list("mqtt://a:1883, mqtts://user:pw@b ,ws://c/mqtt").unwrap();
        let hosts: Vec<_> = list.iter().map(|b| b.host.as_str()).collect();
        assert_eq!(hosts, ["a", "b", "c"]);
        assert_eq!(list[1].transport, Transport::Tls);

        let error = parse_list("mqtt://a,mqtt://u:secret@,mqtt://c")
            .unwrap_err()
            .to_string();
        assert!(error.contains("entry 2 of 3"), "{error}");
        assert!(error.contains("MQTT_URL"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        let error = parse_list("mqtt://a,,mqtt://c").unwrap_err().to_string();
        assert!(
            error.contains("entry 2 of 3") && error.contains("empty"),
            "{error}"
        );
        let single = parse_list("foo://x").unwrap_err().to_string();
        assert!(!single.contains("entry"), "{single}");
    }

    #[test]
    fn redact_masks_every_password_of_a_list() {
        assert_eq!(
            redact("mqtt://a:one@h1,mqtt://h2,mqtt://b:two@h3"),
            "mqtt://a:***@h1,mqtt://h2,mqtt://b:***@h3"
        );
    }

    #[test]
    fn redact_handles_urls_that_do_not_parse() {
        assert_eq!(redact("mqtt://u:p@ss@h"), "mqtt://u:***@h");
        assert_eq!(redact("mqtt://h:1883"), "mqtt://h:1883");
        assert_eq!(redact("garbage"), "garbage");
    }
}
