//! Sizes in bytes written in attributes (`intake_bytes = "4MiB"`), read at compile time.

use syn::Lit;

use crate::attr::KeyValue;

/// The smallest and largest intake bound (the runtime's `MIN_INTAKE_BYTES` and
/// `MAX_INTAKE_BYTES`).
const RANGE: std::ops::RangeInclusive<u64> = (64 << 10)..=(1 << 30);

/// `intake_bytes = "4MiB"` or `intake_bytes = 4194304`: the size in bytes, or an error
/// at the value that shows how to write one.
pub(crate) fn intake_bytes(pair: &KeyValue) -> syn::Result<usize> {
    let key = pair.key.to_string();
    let (text, span) = match pair.lit()? {
        Lit::Str(lit) => (lit.value(), lit.span()),
        Lit::Int(lit) => (lit.base10_digits().to_owned(), lit.span()),
        other => (String::new(), other.span()),
    };
    let bytes = bytes_of(&text).filter(|bytes| RANGE.contains(bytes));
    bytes.and_then(|b| usize::try_from(b).ok()).ok_or_else(|| {
        syn::Error::new(
            span,
            format!(
                "`{key}` must be a size from 64KiB to 1GiB: a number of bytes or a string with KiB, MiB or GiB, e.g. `{key} = \"4MiB\"`"
            ),
        )
    })
}

/// A whole number, alone or followed by `KiB`, `MiB` or `GiB`.
fn bytes_of(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let shift = match unit.trim() {
        "" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(1 << shift)
}
