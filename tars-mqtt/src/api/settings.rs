//! A service's own settings: `#[derive(tars::Settings)]` on a struct reads each field
//! from an environment variable (and `.env`), with defaults, parsing and validation,
//! and errors that name the variable as the `MQTT_*` ones do. A `#[tars::service]`
//! builds each settings type once at start (exit 2 naming the variable when one is
//! wrong) and hands it to handlers as `State<T>`; `--help` lists the variables and
//! `--check` validates them. Tests build settings from pairs, not from the process's
//! environment.

use std::time::Duration;

use crate::config::{ConfigError, Variable};
use crate::{ClientBuilder, Secret};

/// Settings read from environment variables; derive it with `#[derive(tars::Settings)]`.
///
/// ```
/// use std::time::Duration;
/// use tars::Settings;
///
/// /// The TTS worker's own settings.
/// #[derive(tars::Settings, Debug)]
/// #[settings(prefix = "TTS_")]
/// struct TtsSettings {
///     /// The voice of requests that name none.
///     #[setting(default = "en_US-amy")]
///     voice: String,
///     /// Words per minute.
///     #[setting(default = "160", min = 80, max = 400)]
///     rate: u32,
///     /// How long one synthesis may take.
///     #[setting(default = "5s")]
///     timeout: Duration,
///     /// The key of the synthesis API (masked in every message).
///     api_key: tars::Secret,
/// }
///
/// let settings = TtsSettings::from_pairs(&[("TTS_API_KEY", "k"), ("TTS_RATE", "200")])?;
/// assert_eq!((settings.voice.as_str(), settings.rate), ("en_US-amy", 200));
/// assert_eq!(settings.timeout, Duration::from_secs(5));
///
/// let error = TtsSettings::from_pairs(&[("TTS_API_KEY", "k"), ("TTS_RATE", "9000")]).unwrap_err();
/// assert_eq!(error.variable(), "TTS_RATE");
/// # Ok::<(), tars::ConfigError>(())
/// ```
pub trait Settings: Sized + Send + Sync + 'static {
    /// The variables it reads, with their defaults and meanings.
    const VARIABLES: &'static [Variable];

    /// Reads it through `lookup` (a variable's name to its value, if set).
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;

    /// Reads it from the process environment.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads it from name/value pairs (for tests: no process-wide `set_var`).
    fn from_pairs(pairs: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }
}

/// A type a setting can hold: parsed from the variable's text.
#[diagnostic::on_unimplemented(
    message = "a setting cannot be a `{Self}`",
    note = "settings hold strings, numbers, booleans, durations (`500ms`, `2s`), `tars::Secret`, and `Vec` or `Option` of those"
)]
pub trait FromSetting: Sized {
    /// What a valid value looks like, for errors.
    const RULE: &'static str;
    /// Whether the value is a secret, masked in errors and in `--check`.
    const SECRET: bool = false;
    /// Parses the variable's text.
    fn from_setting(raw: &str) -> Option<Self>;
    /// The value when the variable is unset and has no default; `None`: it is required.
    fn missing() -> Option<Self> {
        None
    }
}

#[diagnostic::do_not_recommend]
impl FromSetting for String {
    const RULE: &'static str = "any text";
    fn from_setting(raw: &str) -> Option<Self> {
        Some(raw.to_owned())
    }
}

#[diagnostic::do_not_recommend]
impl FromSetting for Secret {
    const RULE: &'static str = "any text (a secret)";
    const SECRET: bool = true;
    fn from_setting(raw: &str) -> Option<Self> {
        Some(Secret::new(raw))
    }
}

#[diagnostic::do_not_recommend]
impl FromSetting for bool {
    const RULE: &'static str = "one of true/false/1/0/yes/no";
    fn from_setting(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        }
    }
}

#[diagnostic::do_not_recommend]
impl FromSetting for Duration {
    const RULE: &'static str =
        "a duration such as 500ms, 2s, 1.5m or 1h (a bare number is seconds)";
    fn from_setting(raw: &str) -> Option<Self> {
        crate::config::parse_duration(raw)
    }
}

macro_rules! numbers {
    ($($ty:ty => $rule:literal),* $(,)?) => {$(
        #[diagnostic::do_not_recommend]
        impl FromSetting for $ty {
            const RULE: &'static str = $rule;
            fn from_setting(raw: &str) -> Option<Self> {
                raw.parse().ok()
            }
        }
    )*};
}

numbers! {
    u8 => "a whole number from 0 to 255",
    u16 => "a whole number from 0 to 65535",
    u32 => "a whole number from 0 to 4294967295",
    u64 => "a whole number ≥ 0",
    usize => "a whole number ≥ 0",
    i32 => "a whole number",
    i64 => "a whole number",
    f32 => "a number",
    f64 => "a number",
}

#[diagnostic::do_not_recommend]
impl<T: FromSetting> FromSetting for Option<T> {
    const RULE: &'static str = T::RULE;
    const SECRET: bool = T::SECRET;
    fn from_setting(raw: &str) -> Option<Self> {
        T::from_setting(raw).map(Some)
    }
    fn missing() -> Option<Self> {
        Some(None)
    }
}

#[diagnostic::do_not_recommend]
impl<T: FromSetting> FromSetting for Vec<T> {
    const RULE: &'static str = "a comma-separated list";
    const SECRET: bool = T::SECRET;
    fn from_setting(raw: &str) -> Option<Self> {
        raw.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(T::from_setting)
            .collect()
    }
}

/// One field of a settings struct (generated code): its value from `lookup`, else its
/// default, parsed, with the text `--check` shows for it (masked when secret); the
/// error names the variable and masks a secret.
#[doc(hidden)]
pub fn setting<T: FromSetting>(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: Option<&'static str>,
) -> Result<(T, String), ConfigError> {
    let raw = lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let Some(raw) = raw.or_else(|| default.map(str::to_owned)) else {
        let value = T::missing().ok_or(ConfigError::Missing {
            variable: name,
            hint: "this setting has no default: set it",
        })?;
        return Ok((value, "unset".to_owned()));
    };
    let shown = if T::SECRET {
        "***".to_owned()
    } else {
        raw.clone()
    };
    match T::from_setting(&raw) {
        Some(value) => Ok((value, shown)),
        None => Err(ConfigError::Invalid {
            variable: name,
            value: shown,
            rule: format!("must be {}", T::RULE),
        }),
    }
}

/// A value outside a field's `min`/`max` (generated code).
#[doc(hidden)]
pub fn out_of_range(name: &'static str, value: impl std::fmt::Display, rule: &str) -> ConfigError {
    ConfigError::Invalid {
        variable: name,
        value: value.to_string(),
        rule: rule.to_owned(),
    }
}

/// A variable's name to its value, if set.
pub type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Each variable of a settings type with the text `--check` shows for it.
pub type Shown = Vec<(&'static str, String)>;

/// A settings type linked into the binary (generated by `#[derive(Settings)]`).
#[derive(Debug)]
pub struct SettingsRegistration {
    /// The Rust type's name.
    pub type_name: &'static str,
    /// Its variables.
    pub variables: &'static [Variable],
    /// Validates it from `lookup`; the effective values (secrets masked) for `--check`.
    pub check: fn(&Lookup<'_>) -> Result<Shown, ConfigError>,
    /// Builds it from the process environment and hands it to the handlers as state.
    pub provide: fn(ClientBuilder) -> Result<ClientBuilder, ConfigError>,
}

inventory::collect!(SettingsRegistration);

/// Every settings type linked into the binary, by type name.
pub fn registered() -> Vec<&'static SettingsRegistration> {
    let mut all: Vec<_> = inventory::iter::<SettingsRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|s| s.type_name);
    all
}

/// Builds `T` from the process environment and adds it as state (generated code).
#[doc(hidden)]
pub fn provide<T: Settings>(builder: ClientBuilder) -> Result<ClientBuilder, ConfigError> {
    Ok(builder.state(T::from_env()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: FromSetting>(
        pairs: &[(&str, &str)],
        default: Option<&'static str>,
    ) -> Result<T, ConfigError> {
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        setting::<T>(&lookup, "X_VALUE", default).map(|(value, _)| value)
    }

    #[test]
    fn values_parse_by_type_and_defaults_fill_in() {
        assert_eq!(read::<u32>(&[("X_VALUE", " 42 ")], None).unwrap(), 42);
        assert_eq!(read::<u32>(&[], Some("7")).unwrap(), 7);
        assert!(read::<bool>(&[("X_VALUE", "YES")], None).unwrap());
        assert_eq!(
            read::<Duration>(&[("X_VALUE", "250ms")], None).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            read::<Vec<String>>(&[("X_VALUE", "a, b,,c")], None).unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(read::<Option<u8>>(&[], None).unwrap(), None);
    }

    #[test]
    fn errors_name_the_variable_and_mask_secrets() {
        let missing = read::<String>(&[], None).unwrap_err();
        assert_eq!(missing.variable(), "X_VALUE");
        let bad = read::<u8>(&[("X_VALUE", "300")], None).unwrap_err();
        assert!(
            bad.to_string()
                .contains("X_VALUE=\"300\" is invalid: must be a whole number from 0 to 255"),
            "{bad}"
        );
        let secret = read::<Vec<Secret>>(&[("X_VALUE", "")], None).unwrap_err();
        assert_eq!(secret.variable(), "X_VALUE");
        let lookup = |_: &str| Some("hunter2".to_owned());
        let (_, shown) = setting::<Secret>(&lookup, "X_VALUE", None).unwrap();
        assert_eq!(shown, "***");
    }
}
