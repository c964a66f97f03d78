//! Durations written in attributes (`expiry = "30s"`, `backoff = "100ms"`), read at
//! compile time.

use syn::{Lit, LitStr};

use crate::attr::KeyValue;

/// `key = "30s"`: the duration in milliseconds, or an error that shows how to write one.
pub(crate) fn duration(pair: &KeyValue) -> syn::Result<u64> {
    let key = pair.key.to_string();
    match pair.lit()? {
        Lit::Str(lit) => parse_duration(&key, lit),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` takes a duration as a string, e.g. `{key} = \"30s\"`"),
        )),
    }
}

/// A duration literal: a whole number and a unit, `ms`, `s`, `m` or `h` (`"500ms"`,
/// `"30s"`, `"5m"`, `"1h"`); at least 1 ms. Returns milliseconds, or an error at the
/// literal that says how to write one.
pub(crate) fn parse_duration(key: &str, lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let example = if key == "backoff" { "100ms" } else { "30s" };
    let invalid = |why: &str| {
        syn::Error::new(
            lit.span(),
            format!(
                "`{key} = {text:?}` {why}: write a whole number and a unit (ms, s, m or h), e.g. `{key} = \"{example}\"`"
            ),
        )
    };
    let trimmed = text.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = trimmed.split_at(digits);
    if number.is_empty() {
        return Err(invalid("is not a duration"));
    }
    if unit.starts_with('.') {
        return Err(invalid("is not a whole number (write `1500ms` for 1.5 s)"));
    }
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err(invalid("has no unit")),
        _ => return Err(invalid("has an unknown unit")),
    };
    let millis = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| invalid("is too long"))?;
    if millis == 0 {
        return Err(invalid("is zero"));
    }
    Ok(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<u64, String> {
        let lit = LitStr::new(text, proc_macro2::Span::call_site());
        parse_duration("expiry", &lit).map_err(|e| e.to_string())
    }

    #[test]
    fn units_read_as_milliseconds() {
        assert_eq!(parse("500ms"), Ok(500));
        assert_eq!(parse("30s"), Ok(30_000));
        assert_eq!(parse("5m"), Ok(300_000));
        assert_eq!(parse("1h"), Ok(3_600_000));
        assert_eq!(parse(" 2 s "), Ok(2_000));
    }

    #[test]
    fn bad_durations_say_how_to_write_one() {
        for (text, why) in [
            ("", "is not a duration"),
            ("s", "is not a duration"),
            ("30", "has no unit"),
            ("30 sec", "has an unknown unit"),
            ("1.5s", "is not a whole number"),
            ("0s", "is zero"),
            ("99999999999999999999h", "is too long"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(why), "{text:?}: {error}");
            assert!(error.contains("e.g. `expiry = \"30s\"`"), "{error}");
        }
    }
}
