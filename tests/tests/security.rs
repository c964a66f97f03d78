//! TLS with a CA generated at test time, client certificates, and username/password
//! authentication, against mosquitto.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tars::{Client, Config};
use tars_tests::{free_port, init_tracing, Mosquitto};
use tokio::io::AsyncReadExt;

use tars_tests::WAIT;

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn generate_pki(dir: &Path, name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params
        .distinguished_name
        .push(DnType::CommonName, "tars-client");
    let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
    let write = |file: &str, pem: String| {
        let path = dir.join(format!("{name}-{file}"));
        std::fs::write(&path, pem).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        server_cert: write("server.pem", server.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

/// mosquitto with a TLS listener (and its plain one) using `pki`.
fn tls_broker(pki: &Pki, tls_port: u16, require_certificate: bool) -> Mosquitto {
    Mosquitto::start_with(&format!(
        "allow_anonymous true\nlistener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require_certificate}\n",
        pki.ca.display(),
        pki.server_cert.display(),
        pki.server_key.display(),
    ))
}

async fn wait_tls_listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the TLS listener on {port} never came up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_with_a_ca_file_and_a_client_certificate() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let pki = generate_pki(dir.path(), "mtls");
    let port = free_port();
    let _broker = tls_broker(&pki, port, true);
    wait_tls_listening(port).await;
    let url = format!("mqtts://127.0.0.1:{port}");

    let config = Config::builder(&url, "tls-client")
        .tls_ca_file(&pki.ca)
        .tls_client_auth(&pki.client_cert, &pki.client_key)
        .build()
        .unwrap();
    let client = tokio::time::timeout(WAIT, Client::connect(config))
        .await
        .expect("connects over TLS with the test CA")
        .unwrap();
    assert!(client.is_connected());
    client.shutdown().await.unwrap();

    // Without the client certificate the broker refuses the handshake.
    let config = Config::builder(&url, "tls-no-cert")
        .tls_ca_file(&pki.ca)
        .build()
        .unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(3), Client::connect(config)).await;
    assert!(refused.is_err(), "connected without a client certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_with_an_error_that_says_what_to_check() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let pki = generate_pki(dir.path(), "server");
    let other = generate_pki(dir.path(), "other");
    let port = free_port();
    let _broker = tls_broker(&pki, port, false);
    wait_tls_listening(port).await;
    let stderr = run_until_logged(
        &[
            ("MQTT_URL", format!("mqtts://127.0.0.1:{port}")),
            ("MQTT_TLS_CA_FILE", other.ca.display().to_string()),
        ],
        "retrying",
    )
    .await;
    assert!(stderr.contains("MQTT_TLS_CA_FILE"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_refused_clearly_with_backoff_and_never_logged() {
    init_tracing();
    // Readable by the `mosquitto` user, which mosquitto switches to when started as root.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let password_file = dir.path().join("passwords");
    let status = std::process::Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&password_file)
        .args(["tars", "right-horse-battery"])
        .status()
        .expect("mosquitto_passwd comes with mosquitto");
    assert!(status.success());
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let broker = Mosquitto::start_with(&format!(
        "allow_anonymous false\npassword_file {}\n",
        password_file.display()
    ));
    let secret = "wrong-staple-9f3c";
    let stderr = run_until_logged(
        &[(
            "MQTT_URL",
            format!("mqtt://tars:{secret}@127.0.0.1:{}", broker.port()),
        )],
        "attempt=3",
    )
    .await;
    // mosquitto answers a wrong password with "not authorized" (return code 5).
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(
        stderr.contains("check the credentials in MQTT_URL"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tars:***@"),
        "the URL is logged redacted: {stderr}"
    );
    assert!(
        !stderr.contains(secret),
        "the password was logged:\n{stderr}"
    );

    let config = Config::builder(
        format!(
            "mqtt://tars:right-horse-battery@127.0.0.1:{}",
            broker.port()
        ),
        "auth-ok",
    )
    .build()
    .unwrap();
    let client = tokio::time::timeout(WAIT, Client::connect(config))
        .await
        .expect("connects with the right password")
        .unwrap();
    client.shutdown().await.unwrap();
}

/// Runs `hold-connection` with `env` until its log (stderr) contains `marker`, then
/// kills it and returns what it logged.
async fn run_until_logged(env: &[(&str, String)], marker: &str) -> String {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hold-connection"));
    command
        .env("MQTT_CLIENT_ID", format!("logs-{}", &tars::new_id()[..8]))
        .env("MQTT_RECONNECT_MIN_DELAY", "0.1")
        .env("MQTT_RECONNECT_MAX_DELAY", "0.5")
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn hold-connection");
    let mut stderr = child.stderr.take().unwrap();
    let mut log = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    while !String::from_utf8_lossy(&log).contains(marker) {
        match tokio::time::timeout_at(deadline, stderr.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => log.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let log = String::from_utf8_lossy(&log).into_owned();
    assert!(log.contains(marker), "no {marker:?} in the log:\n{log}");
    log
}
