//! Opens the byte stream to the broker with the rumqttc-next transport plumbing: TCP,
//! TLS and websockets.

use std::io;
use std::sync::Arc;

use rumqttc_core::NetworkOptions;

use super::Stream;
use crate::config::{BrokerUrl, Transport};

/// Why the byte stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("TLS handshake failed ({0})")]
    Tls(String),
    #[error("websocket handshake failed: {0}")]
    WebSocket(String),
}

/// Opens the byte stream to the broker at `url`: TCP with `TCP_NODELAY` (MQTT packets
/// are small, and a handler's reply must not wait for Nagle's algorithm), then TLS or a
/// websocket as the URL says.
pub(crate) async fn open(
    url: &BrokerUrl,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Stream, OpenError> {
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    let address = format!("{}:{}", url.host, url.port);
    let tcp: Stream = Box::new(rumqttc_core::default_socket_connect(address, network).await?);
    let tls_config = || {
        tls.cloned()
            .map(rumqttc_core::TlsConfiguration::Rustls)
            .ok_or_else(|| OpenError::Tls("no TLS configuration".into()))
    };
    match url.transport {
        Transport::Tcp => Ok(tcp),
        Transport::Tls => rumqttc_core::tls_connect(&url.host, url.port, &tls_config()?, tcp)
            .await
            .map_err(|e| OpenError::Tls(e.to_string())),
        Transport::Ws => websocket(url.websocket_url(), tcp).await,
        Transport::Wss => {
            let secure = rumqttc_core::tls_connect(&url.host, url.port, &tls_config()?, tcp)
                .await
                .map_err(|e| OpenError::Tls(e.to_string()))?;
            websocket(url.websocket_url(), secure).await
        }
    }
}

/// The websocket handshake (subprotocol `mqtt`) over an open stream.
async fn websocket(url: String, stream: Stream) -> Result<Stream, OpenError> {
    use async_tungstenite::tungstenite::client::IntoClientRequest;

    let mut request = url
        .into_client_request()
        .map_err(|e| OpenError::WebSocket(e.to_string()))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        async_tungstenite::tungstenite::http::HeaderValue::from_static("mqtt"),
    );
    let (socket, response) = async_tungstenite::tokio::client_async(request, stream)
        .await
        .map_err(|e| OpenError::WebSocket(e.to_string()))?;
    rumqttc_core::validate_response_headers(&response)
        .map_err(|e| OpenError::WebSocket(e.to_string()))?;
    Ok(Box::new(rumqttc_core::WsAdapter::new(socket)))
}
