//! MQTT 5 server redirects: a CONNACK or DISCONNECT with "use another server" or "server
//! moved" names a Server Reference; the link tries that server next (on the same
//! transport, with the same credentials), then goes back to its broker list. A chain of
//! redirects is cut after [`MAX_REDIRECTS`], so two brokers sending a client to each
//! other cannot keep it from its list.

use crate::config::BrokerUrl;

/// Redirects followed in a row before the link goes back to its list.
pub(crate) const MAX_REDIRECTS: u32 = 5;

/// The server a Server Reference names, reached like `from`: the reference's first
/// entry (`host`, `host:port`, `[v6]:port`), its port `from`'s when it names none.
/// `None` when it names nothing usable.
pub(crate) fn target(from: &BrokerUrl, reference: &str) -> Option<BrokerUrl> {
    let first = reference.split_whitespace().next()?;
    let (host, port) = match first.strip_prefix('[') {
        Some(bracketed) => {
            let (host, rest) = bracketed.split_once(']')?;
            let port = match rest.strip_prefix(':') {
                Some(port) => port.parse().ok()?,
                None if rest.is_empty() => from.port,
                None => return None,
            };
            (host, port)
        }
        None => match first.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (first, from.port),
        },
    };
    if host.is_empty() {
        return None;
    }
    Some(BrokerUrl {
        host: host.to_owned(),
        port,
        ..from.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> BrokerUrl {
        "mqtt://stt:secret@broker.lan:1883".parse().unwrap()
    }

    #[test]
    fn a_reference_keeps_the_transport_and_credentials_and_may_name_a_port() {
        let to = target(&from(), "broker2.lan:2883 broker3.lan").unwrap();
        assert_eq!((to.host.as_str(), to.port), ("broker2.lan", 2883));
        assert_eq!(to.username.as_deref(), Some("stt"));
        assert_eq!(to.to_string(), "mqtt://stt:***@broker2.lan:2883");
        let same_port = target(&from(), "broker3.lan").unwrap();
        assert_eq!(same_port.port, 1883);
        let v6 = target(&from(), "[::1]:1884").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 1884));
    }

    #[test]
    fn a_reference_that_names_nothing_usable_is_none() {
        for bad in ["", "   ", ":1883", "host:port", "[::1"] {
            assert!(target(&from(), bad).is_none(), "{bad:?}");
        }
    }
}
