//! The numeric bounds of the pydantic models (`Field(ge=..., le=...)`), checked when a
//! value is decoded: `#[serde(deserialize_with = "bounds::...")]`.

use std::fmt::Display;

use serde::de::Error;
use serde::{Deserialize, Deserializer};

/// `value` when it lies within `min..=max` (either end open when `None`).
fn within<T, E>(value: T, min: Option<T>, max: Option<T>) -> Result<T, E>
where
    T: PartialOrd + Display + Copy,
    E: Error,
{
    let low = min.is_none_or(|min| value >= min);
    let high = max.is_none_or(|max| value <= max);
    if low && high {
        return Ok(value);
    }
    let rule = match (min, max) {
        (Some(min), Some(max)) => format!("from {min} to {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => unreachable!("a bound without ends"),
    };
    Err(E::custom(format!(
        "{value} is out of range: must be {rule}"
    )))
}

/// A bounded number, and the same when optional (`None` passes).
macro_rules! bounded {
    ($name:ident, $optional:ident, $t:ty, $min:expr, $max:expr) => {
        #[allow(dead_code)]
        pub(crate) fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
            within(<$t>::deserialize(d)?, $min, $max)
        }

        #[allow(dead_code)]
        pub(crate) fn $optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
            Option::<$t>::deserialize(d)?
                .map(|value| within(value, $min, $max))
                .transpose()
        }
    };
}

bounded!(non_negative_int, opt_non_negative_int, i64, Some(0), None);
bounded!(positive_int, opt_positive_int, i64, Some(1), None);
bounded!(int_0_to_5, opt_int_0_to_5, i64, Some(0), Some(5));
bounded!(int_1_to_50, opt_int_1_to_50, i64, Some(1), Some(50));
bounded!(int_0_to_100, opt_int_0_to_100, i64, Some(0), Some(100));
bounded!(int_1_to_100, opt_int_1_to_100, i64, Some(1), Some(100));
bounded!(
    int_1_to_10000,
    opt_int_1_to_10000,
    i64,
    Some(1),
    Some(10000)
);
bounded!(non_negative, opt_non_negative, f64, Some(0.0), None);
bounded!(unit_interval, opt_unit_interval, f64, Some(0.0), Some(1.0));
bounded!(speed, opt_speed, f64, Some(0.1), Some(1.0));
bounded!(percent, opt_percent, f64, Some(1.0), Some(100.0));
