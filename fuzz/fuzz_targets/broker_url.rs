//! Arbitrary strings as `MQTT_URL`: a parse error or a URL, never a panic, and the
//! password never in what is shown.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    match raw.parse::<tars::BrokerUrl>() {
        Ok(url) => {
            let shown = format!("{url} {url:?}");
            if let Some(password) = url.password.as_ref().map(|p| p.expose()) {
                if password.len() >= 8 {
                    assert!(!shown.contains(password), "password shown: {shown}");
                }
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
