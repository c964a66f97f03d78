//! The Rust router publishes what the Python router published, scenario by scenario:
//! `scenarios/drive.py` replays each scenario of `scenarios/scenarios.json` against this
//! crate's binary over a mosquitto of its own and compares with the golden file the
//! Python router recorded (`scenarios/golden/`; see `scenarios/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `python3` with paho-mqtt, or a failure that says how to get it.
fn python() -> &'static str {
    let ok = Command::new("python3")
        .args(["-c", "import paho.mqtt.client"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the scenario driver needs python3 with paho-mqtt: \
         python3 -m pip install -r tests/python/requirements.txt (scripts/test.sh does it)"
    );
    "python3"
}

fn mosquitto_installed() {
    let found = Path::new("/usr/sbin/mosquitto").exists()
        || Command::new("mosquitto").arg("-h").output().is_ok();
    assert!(
        found,
        "the scenarios need mosquitto: apt-get install mosquitto"
    );
}

fn replay(scenario: &str) {
    mosquitto_installed();
    let output = Command::new(python())
        .arg(here().join("scenarios/drive.py"))
        .args(["--router", env!("CARGO_BIN_EXE_tars-router")])
        .arg("--compare")
        .arg(here().join("scenarios/golden"))
        .args(["--only", scenario])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the scenario driver");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{scenario} differs from the Python router:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("ok   {scenario}:")),
        "{stdout}\n{stderr}"
    );
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*

        #[test]
        fn every_scenario_has_its_test_and_its_golden_file() {
            let listed = std::fs::read_to_string(here().join("scenarios/scenarios.json")).unwrap();
            let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
            let mut names: Vec<&str> = listed["scenarios"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap())
                .collect();
            names.sort_unstable();
            let mut tested = vec![$(stringify!($name)),*];
            tested.sort_unstable();
            assert_eq!(names, tested, "scenarios.json and this test list differ");
            for name in names {
                let golden = here().join(format!("scenarios/golden/{name}.json"));
                assert!(golden.is_file(), "{} is missing: record it (scenarios/README.md)", golden.display());
            }
        }
    };
}

scenarios! {
    boot_healthy,
    boot_one_unhealthy,
    wake_transcript_response,
    wake_ack_turns,
    streamed_answer,
    stream_then_longer_response,
    cancel_mid_stream,
    response_window,
    live_mode,
    transcript_while_tts_down,
    time_question,
    greeting_with_wake_phrase,
    movement_status,
    no_wake,
    bare_payloads,
    history,
}
