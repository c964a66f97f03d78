//! `tars dashboard` in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver): the page shows a running fleet, a killed
//! service turns lost without a reload, the topology has the edge between two services,
//! and the live tail follows its filter. Screenshots go to `target/dashboard*.png`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tars_tests::fleet::{tars_ok, Fleet, PYTHON_ID};
use tars_tests::process::{cli_binary, target_dir};
use tars_tests::{free_port, init_tracing};
use tokio::io::{AsyncBufReadExt, BufReader};

const INSTALL: &str = "the dashboard test needs Debian's chromium and chromium-driver: \
    `apt-get install chromium chromium-driver` (or run `bash scripts/test.sh`)";

fn which(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
        let path = PathBuf::from(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} not found; {INSTALL}");
}

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: std::process::Child,
    port: u16,
}

impl Driver {
    async fn start() -> Self {
        let port = free_port();
        let child = std::process::Command::new(which("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start chromedriver ({e}); {INSTALL}"));
        let driver = Self { child, port }; // stopped on drop, also when this panics
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not listen on {port} within 10 s; {INSTALL}");
    }

    async fn browser(&self, profile: &std::path::Path) -> Client {
        let options = json!({
            "binary": which("chromium"),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("could not start a Chromium session ({e}); {INSTALL}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Evaluates `expression` in the page until it is true, failing after `within`.
async fn wait_for(browser: &Client, expression: &str, within: Duration, what: &str) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = browser
            .execute(&format!("return Boolean({expression});"), vec![])
            .await
            .expect("run a script in the page");
        if value == Value::Bool(true) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let services = browser
                .execute(
                    "return document.getElementById('services').innerText;",
                    vec![],
                )
                .await
                .unwrap_or_default();
            panic!("{what}: not within {within:?}; the services table shows {services}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn status_is(client_id: &str, status: &str) -> String {
    format!(
        "document.querySelector('#services tr[data-client=\"{client_id}\"]')?.dataset.status === '{status}'"
    )
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("take a screenshot");
    let path = target_dir().join(name);
    std::fs::write(&path, png).expect("save the screenshot");
    println!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_the_fleet_live_in_a_real_browser() {
    init_tracing();
    let driver = Driver::start().await;
    let fleet = Fleet::start().await;
    let url = fleet.url();
    let port = free_port();
    let mut dashboard = tokio::process::Command::new(cli_binary())
        .args([
            "dashboard",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--url",
            &url,
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start tars dashboard");
    let mut out = BufReader::new(dashboard.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(15), out.next_line())
        .await
        .expect("the dashboard starts within 15 s")
        .unwrap()
        .unwrap_or_default();
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}/")),
        "{first}"
    );

    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;
    browser
        .goto(&format!("http://127.0.0.1:{port}/"))
        .await
        .expect("open the dashboard");
    let wait = Duration::from_secs(15);
    wait_for(
        &browser,
        &status_is("tars-pipeline", "ok"),
        wait,
        "the pipeline shows ok",
    )
    .await;
    wait_for(
        &browser,
        &status_is("tars-tts", "ok"),
        wait,
        "the tts service shows ok",
    )
    .await;
    wait_for(
        &browser,
        &status_is(PYTHON_ID, "ok"),
        wait,
        "the Python service shows ok",
    )
    .await;
    wait_for(
        &browser,
        "document.querySelector('#graph .edge[data-from=\"tars-pipeline\"][data-to=\"tars-tts\"]')",
        wait,
        "the graph has the edge tars-pipeline → tars-tts",
    )
    .await;
    wait_for(
        &browser,
        "document.querySelector('#graph .node.other[data-node=\"py-llm\"]')",
        wait,
        "the graph has the Python service, as a service without a manifest",
    )
    .await;

    // Rates: tars-tts's from its metrics endpoint (named in its manifest), the
    // pipeline's from what it publishes on the bus.
    wait_for(
        &browser,
        "document.querySelector('#services tr[data-client=\"tars-tts\"] td[title=\"metrics\"]')",
        wait,
        "the tts service's rate comes from its metrics endpoint",
    )
    .await;
    tars_ok(&[
        "pub",
        "stt/final",
        "--type",
        "stt.final",
        "--data",
        r#"{"text": "hi", "confidence": 0.9}"#,
        "--url",
        &url,
    ]);
    wait_for(
        &browser,
        "(() => { const td = document.querySelector('#services tr[data-client=\"tars-pipeline\"] td[title=\"observed\"]'); \
           return td !== null && td.textContent !== '0.0 sent'; })()",
        wait,
        "the pipeline's rate is observed from what it publishes",
    )
    .await;

    // The live tail follows the filter typed into it.
    let filter = browser
        .find(Locator::Id("filter"))
        .await
        .expect("the filter box");
    filter.clear().await.unwrap();
    filter.send_keys("demo/#").await.unwrap();
    tars_ok(&[
        "pub",
        "demo/dashboard",
        "--type",
        "demo.shown",
        "--data",
        r#"{"n": 7}"#,
        "--url",
        &url,
    ]);
    tars_ok(&[
        "pub",
        "other/topic",
        "--type",
        "demo.hidden",
        "--data",
        "{}",
        "--url",
        &url,
    ]);
    wait_for(
        &browser,
        "document.querySelector('#tail li[data-topic=\"demo/dashboard\"]')",
        wait,
        "the tail shows a message matching its filter",
    )
    .await;
    let hidden = browser
        .execute(
            "return document.querySelector('#tail li[data-topic=\"other/topic\"]') === null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        hidden,
        Value::Bool(true),
        "the tail shows a message its filter excludes"
    );
    screenshot(&browser, "dashboard.png").await;

    // A killed service turns lost (its last will), with no reload of the page.
    let loaded_at = browser
        .execute("return window.tarsLoadedAt;", vec![])
        .await
        .unwrap();
    fleet.pipeline.signal("KILL");
    wait_for(
        &browser,
        &status_is("tars-pipeline", "lost"),
        Duration::from_secs(10),
        "the killed pipeline shows lost",
    )
    .await;
    wait_for(
        &browser,
        "document.querySelector('#graph .node.lost[data-node=\"tars-pipeline\"]')",
        Duration::from_secs(5),
        "the graph marks the lost service",
    )
    .await;
    let still = browser
        .execute("return window.tarsLoadedAt;", vec![])
        .await
        .unwrap();
    assert_eq!(loaded_at, still, "the page was reloaded");
    screenshot(&browser, "dashboard-lost.png").await;
    browser.close().await.unwrap();
}
