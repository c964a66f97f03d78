//! Translating a [`Config`] into rumqttc options.

use std::path::Path;
use std::sync::Arc;

use rumqttc::{LastWill, MqttOptions, NetworkOptions, QoS, TlsConfiguration};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Transport;
use crate::envelope;
use crate::health::{events, health_topic, HealthStatus, HEALTH_EVENT_TYPE};
use crate::{Config, Error, Result};

/// Options for rumqttc: credentials, transport, packet limits, manual acks (the
/// runtime acks a QoS 1/2 message once it is queued for every handler), and the
/// `lost` last will when health is on.
/// The largest packet MQTT 3.1.1 can express: a remaining length of 268,435,455 bytes
/// plus a fixed header of at most 5.
const MQTT_MAX_PACKET_SIZE: usize = 268_435_455 + 5;

pub(crate) fn mqtt_options(config: &Config) -> Result<MqttOptions> {
    let url = config.broker();
    let mut options = match url.transport {
        Transport::Ws | Transport::Wss => {
            MqttOptions::new(config.client_id(), url.websocket_url(), url.port)
        }
        Transport::Tcp | Transport::Tls => {
            MqttOptions::new(config.client_id(), &url.host, url.port)
        }
    };
    options
        .set_keep_alive(config.keepalive())
        .set_clean_session(config.clean_session())
        // Incoming: anything MQTT allows, so that a message over our limit is read and
        // skipped by the dispatcher instead of making rumqttc drop the connection (a
        // retained or redelivered one would then come back on every reconnect).
        .set_max_packet_size(MQTT_MAX_PACKET_SIZE, config.max_packet_size())
        .set_manual_acks(true);
    if let Some(user) = &url.username {
        let password = url.password.as_ref().map(|p| p.expose()).unwrap_or("");
        options.set_credentials(user, password);
    }
    match url.transport {
        Transport::Tcp => {}
        Transport::Tls => {
            options.set_transport(rumqttc::Transport::tls_with_config(tls_config(config)?));
        }
        Transport::Ws => {
            options.set_transport(rumqttc::Transport::Ws);
        }
        Transport::Wss => {
            options.set_transport(rumqttc::Transport::wss_with_config(tls_config(config)?));
        }
    }
    if config.enable_health() {
        options.set_last_will(lost_will(config)?);
    }
    Ok(options)
}

/// Socket options: `TCP_NODELAY`, because MQTT packets are small and a handler's reply
/// must not wait for Nagle's algorithm (about 40 ms per hop with delayed ACKs).
pub(crate) fn network_options() -> NetworkOptions {
    let mut options = NetworkOptions::new();
    options.set_tcp_nodelay(true);
    options
}

/// The retained `lost` health status the broker publishes if the connection dies
/// without a clean DISCONNECT. Rebuilt before each connection so its time is current.
pub(crate) fn lost_will(config: &Config) -> Result<LastWill> {
    let status = HealthStatus::new(false, Some(events::LOST), None);
    let payload = envelope::encode(
        &envelope::new_id(),
        HEALTH_EVENT_TYPE,
        config.source_name(),
        &status,
    )?;
    Ok(LastWill::new(
        health_topic(config.client_id()),
        payload,
        QoS::AtLeastOnce,
        true,
    ))
}

/// TLS on the `ring` provider: the CA file's authorities when `MQTT_TLS_CA_FILE` is
/// set, else the platform's roots; a client certificate when one is configured.
fn tls_config(config: &Config) -> Result<TlsConfiguration> {
    let files = config.tls_files();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &files.ca_file {
        Some(path) => ca_roots(path)?,
        None => platform_roots(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let tls = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certificates("MQTT_TLS_CERT_FILE", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Error::Tls(format!(
                    "MQTT_TLS_KEY_FILE={}: no usable private key ({e})",
                    key.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::Tls(format!("the client certificate and key do not fit: {e}"))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsConfiguration::Rustls(Arc::new(tls)))
}

fn platform_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "skipping a platform certificate that could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "loaded platform root certificates");
    roots
}

fn ca_roots(path: &Path) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in read_certificates("MQTT_TLS_CA_FILE", path)? {
        roots.add(certificate).map_err(|e| {
            Error::Tls(format!(
                "MQTT_TLS_CA_FILE={}: not a usable CA certificate ({e})",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// Every certificate of a PEM file; an error names the variable and the file.
fn read_certificates(variable: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|items| items.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("{variable}={}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(Error::Tls(format!(
            "{variable}={}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certificates)
}
