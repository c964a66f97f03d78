//! The TLS client configuration for `mqtts://` and `wss://`: the crypto provider (ring,
//! or aws-lc-rs with the feature `tls-aws-lc`; why, in `docs/reliability.md`), the CA
//! file of `MQTT_TLS_CA_FILE` or the platform's roots, and a client certificate when one
//! is configured. Errors name the variable and the file.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::model::error::TlsError;
use crate::{Config, Result};

/// TLS on the chosen provider: the CA file's authorities when `MQTT_TLS_CA_FILE` is
/// set, else the platform's roots; a client certificate when one is configured.
pub(crate) fn client_config(config: &Config) -> Result<Arc<rustls::ClientConfig>> {
    let files = config.tls_files();
    let provider = Arc::new(crypto_provider());
    let roots = match &files.ca_file {
        Some(path) => ca_roots(path)?,
        None => platform_roots(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Provider(e.to_string()))?
        .with_root_certificates(roots);
    let tls = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certificates("MQTT_TLS_CERT_FILE", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::BadKey {
                path: key.clone(),
                reason: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::KeyMismatch(e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(tls))
}

/// aws-lc-rs, with the post-quantum hybrid key exchange first (feature `tls-aws-lc`).
#[cfg(feature = "tls-aws-lc")]
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// ring: it builds for every target a robot runs on with a plain C compiler, quickly and
/// small. rustls 0.23.48 deprecates it for lacking post-quantum key exchange; we keep
/// it as the default on purpose, and `tls-aws-lc` gives that exchange to whoever needs
/// it (`docs/reliability.md`, "The TLS crypto provider").
#[cfg(not(feature = "tls-aws-lc"))]
#[allow(deprecated)]
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
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
        roots.add(certificate).map_err(|e| TlsError::BadAuthority {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// Every certificate of a PEM file; an error names the variable and the file.
fn read_certificates(variable: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|items| items.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Unreadable {
            variable,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            variable,
            path: path.to_owned(),
        }
        .into());
    }
    Ok(certificates)
}
