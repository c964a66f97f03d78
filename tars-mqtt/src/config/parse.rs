//! The value syntaxes of the configuration: durations and byte sizes.

use std::time::Duration;

/// A duration written as a number and a unit (`100ms`, `1.5s`, `2m`, `1h`), or a bare
/// number of seconds.
pub(crate) fn parse_duration(raw: &str) -> Option<Duration> {
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        _ => return None,
    };
    let number: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(number * seconds_per_unit).ok()
}

/// A size in bytes: a whole number, alone or followed by `KiB`, `MiB` or `GiB`
/// (`"262144"`, `"512KiB"`, `"4MiB"`).
pub(crate) fn parse_byte_size(raw: &str) -> Option<usize> {
    let raw = raw.trim();
    let digits = raw.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = raw.split_at(digits);
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.parse::<usize>().ok()?.checked_mul(factor)
}
