//! The rules of `#[derive(Settings)]`: every broken one reported.

use super::parse::SettingsInput;
use crate::attr::Errors;

pub(crate) fn validate(input: &SettingsInput, errors: &mut Errors) {
    if let Some(span) = input.not_a_struct {
        errors.at(
            span,
            "`Settings` can only be derived for a struct with named fields: each field is one variable",
        );
    }
    if let Some(span) = input.generics {
        errors.at(span, "settings cannot be generic: name concrete types");
    }
    let mut seen: Vec<String> = Vec::new();
    for field in &input.fields {
        let name = field.variable.value();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            errors.at(
                field.variable.span(),
                format!(
                    "invalid variable name {name:?}: capitals, digits and `_`, not starting with a digit, e.g. `env = \"TTS_VOICE\"`"
                ),
            );
        }
        if name.starts_with("MQTT_") || name.starts_with("TARS_") {
            errors.at(
                field.variable.span(),
                format!("{name:?} is one of tars' own variables (`MQTT_*`, `TARS_*`): give your setting a prefix of its own, e.g. `#[settings(prefix = \"TTS_\")]`"),
            );
        }
        if seen.contains(&name) {
            errors.at(
                field.variable.span(),
                format!("two fields read {name}: give each its own variable"),
            );
        }
        seen.push(name);
        if field.optional() && field.default.is_some() {
            if let Some(default) = &field.default {
                errors.at(
                    default.span(),
                    "an `Option` setting is `None` when unset: remove `default`, or make the field a plain type",
                );
            }
        }
    }
}
