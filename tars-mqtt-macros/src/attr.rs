//! `key = literal` (and `key = [paths]`) attribute arguments, shared by the three
//! macros, and error collection.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitInt, LitStr, Token};

/// One `key = value` argument.
pub(crate) struct KeyValue {
    pub(crate) key: Ident,
    pub(crate) value: Value,
}

/// What an attribute key is given.
pub(crate) enum Value {
    /// A literal: `"stt/final"`, `1`, `true`.
    Lit(Lit),
    /// A list of paths: `[tts_core, voices]`.
    Paths(Vec<syn::Path>, Span),
    /// A path: `Voices::default`.
    Path(syn::Path),
}

impl KeyValue {
    /// The literal given, or an error at the value saying the key takes one.
    pub(crate) fn lit(&self) -> syn::Result<&Lit> {
        match &self.value {
            Value::Lit(lit) => Ok(lit),
            Value::Paths(_, span) => Err(not_a_literal(&self.key, *span)),
            Value::Path(path) => Err(not_a_literal(&self.key, path.span())),
        }
    }

    /// The path given: `what` it names and an `example` for the error, e.g. "a
    /// function" and `Voices::default` for `state`.
    pub(crate) fn path(&self, what: &str, example: &str) -> syn::Result<&syn::Path> {
        match &self.value {
            Value::Path(path) => Ok(path),
            Value::Lit(_) | Value::Paths(..) => Err(syn::Error::new(
                self.value_span(),
                format!(
                    "`{}` takes the path of {what}, e.g. `{} = {example}`",
                    self.key, self.key
                ),
            )),
        }
    }

    /// Where the value is.
    pub(crate) fn value_span(&self) -> Span {
        match &self.value {
            Value::Lit(lit) => lit.span(),
            Value::Paths(_, span) => *span,
            Value::Path(path) => path.span(),
        }
    }

    /// The paths of a `key = [a, b]` list.
    pub(crate) fn paths(&self) -> syn::Result<&[syn::Path]> {
        match &self.value {
            Value::Paths(paths, _) => Ok(paths),
            Value::Lit(_) | Value::Path(_) => Err(syn::Error::new(
                self.value_span(),
                format!(
                    "`{}` takes a list of crate names, e.g. `{} = [tts_core]`",
                    self.key, self.key
                ),
            )),
        }
    }
}

fn not_a_literal(key: &Ident, span: Span) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "`{key}` takes a literal value, e.g. `{key} = {}`",
            example(&key.to_string())
        ),
    )
}

/// Collects every error instead of stopping at the first. It must end in
/// [`Errors::finish`]: in debug builds, dropping one that still holds errors panics, so
/// that a path which forgets to report them is found by the tests (as serde's `Ctxt`).
#[derive(Default)]
#[must_use = "collected errors are lost unless `finish` reports them"]
pub(crate) struct Errors(Option<syn::Error>);

impl Drop for Errors {
    fn drop(&mut self) {
        if cfg!(debug_assertions) && self.0.is_some() && !std::thread::panicking() {
            panic!("tars-mqtt-macros: errors were collected and never reported");
        }
    }
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records the error of `result`, if any, and passes its value on.
    pub(crate) fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// The errors collected, combined; `Ok` when there were none.
    pub(crate) fn finish(mut self) -> syn::Result<()> {
        self.0.take().map_or(Ok(()), Err)
    }
}

/// `key = expr`, where the key may be a keyword (`type = ...` gets a helpful error); a
/// bare `key` is a flag, `key = true`.
struct RawPair {
    key: Ident,
    value: Expr,
}

impl Parse for RawPair {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        if input.is_empty() || input.peek(Token![,]) {
            let flag = LitBool::new(true, key.span());
            return Ok(Self {
                key,
                value: syn::parse_quote!(#flag),
            });
        }
        input.parse::<Token![=]>()?;
        Ok(Self {
            key,
            value: input.parse()?,
        })
    }
}

/// Parses `key = literal, ...` (and `key = [path, ...]`); syntax errors are returned,
/// keys are not checked yet.
pub(crate) fn parse_key_values(tokens: TokenStream) -> syn::Result<Vec<KeyValue>> {
    let pairs = Punctuated::<RawPair, Token![,]>::parse_terminated.parse2(tokens)?;
    pairs
        .into_iter()
        .map(|RawPair { key, value }| {
            let value = match value {
                Expr::Lit(ExprLit { lit, .. }) => Value::Lit(lit),
                Expr::Array(array) => {
                    let span = array.span();
                    let paths = array
                        .elems
                        .into_iter()
                        .map(|element| match element {
                            Expr::Path(path) if path.qself.is_none() => Ok(path.path),
                            other => Err(syn::Error::new(
                                other.span(),
                                format!("`{key}` lists crate names, e.g. `{key} = [tts_core]`"),
                            )),
                        })
                        .collect::<syn::Result<Vec<_>>>()?;
                    Value::Paths(paths, span)
                }
                Expr::Path(path) if path.qself.is_none() => Value::Path(path.path),
                other => return Err(not_a_literal(&key, other.span())),
            };
            Ok(KeyValue { key, value })
        })
        .collect()
}

fn example(key: &str) -> &'static str {
    match key {
        "qos" => "1",
        "retain" => "true",
        _ => "\"...\"",
    }
}

/// Rejects keys that are unknown or given twice; returns the accepted pairs.
pub(crate) fn check_keys<'a>(
    pairs: &'a [KeyValue],
    allowed: &[&str],
    errors: &mut Errors,
) -> Vec<&'a KeyValue> {
    let expected = allowed
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut seen: Vec<String> = Vec::new();
    let mut accepted = Vec::new();
    for pair in pairs {
        let key = pair.key.to_string();
        if !allowed.contains(&key.as_str()) {
            let hint = suggestion(&key, allowed)
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            errors.at(
                pair.key.span(),
                format!("unknown key `{key}`; {hint}expected one of {expected}"),
            );
        } else if seen.contains(&key) {
            errors.at(
                pair.key.span(),
                format!("`{key}` is given twice; keep only one"),
            );
        } else {
            seen.push(key);
            accepted.push(pair);
        }
    }
    accepted
}

/// The allowed key closest to a misspelt one, if close enough.
fn suggestion<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    if key == "type" && allowed.contains(&"event_type") {
        return Some("event_type");
    }
    if let Some(extended) = allowed
        .iter()
        .find(|candidate| key.len() >= 3 && candidate.starts_with(key))
    {
        return Some(extended);
    }
    allowed
        .iter()
        .map(|candidate| (edit_distance(key, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

pub(crate) fn lit_str(pair: &KeyValue) -> syn::Result<LitStr> {
    match pair.lit()? {
        Lit::Str(s) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!(
                "`{}` takes a string, e.g. `{} = \"...\"`",
                pair.key, pair.key
            ),
        )),
    }
}

/// A whole number of at least 1 (`concurrency`, `queue`).
pub(crate) fn positive(pair: &KeyValue) -> syn::Result<usize> {
    whole_number_in(pair, 1..=usize::MAX, "of at least 1", 4)
}

/// A whole number from 0 to `max` (`retries`).
pub(crate) fn whole_number(pair: &KeyValue, max: u32) -> syn::Result<u32> {
    whole_number_in(pair, 0..=max, &format!("from 0 to {max}"), 3)
}

/// An integer literal within `range`; the error states the rule and an example.
fn whole_number_in<T>(
    pair: &KeyValue,
    range: std::ops::RangeInclusive<T>,
    rule: &str,
    example: u32,
) -> syn::Result<T>
where
    T: std::str::FromStr + PartialOrd,
    T::Err: std::fmt::Display,
{
    let invalid = |span| {
        syn::Error::new(
            span,
            format!(
                "`{}` must be a whole number {rule}, e.g. `{} = {example}`",
                pair.key, pair.key
            ),
        )
    };
    match pair.lit()? {
        Lit::Int(int) => int
            .base10_parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| invalid(int.span())),
        other => Err(invalid(other.span())),
    }
}

/// One of a fixed set of string values, as the value it stands for; the error lists
/// them and suggests the closest.
pub(crate) fn one_of<T: Copy>(pair: &KeyValue, choices: &[(&str, T)]) -> syn::Result<T> {
    let lit = lit_str(pair)?;
    let value = lit.value();
    if let Some((_, chosen)) = choices.iter().find(|(name, _)| *name == value) {
        return Ok(*chosen);
    }
    let allowed: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let expected = allowed
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let hint = suggestion(&value, &allowed)
        .map(|s| format!("did you mean \"{s}\"? "))
        .unwrap_or_default();
    Err(syn::Error::new(
        lit.span(),
        format!(
            "unknown `{}` value {value:?}; {hint}expected one of {expected}",
            pair.key
        ),
    ))
}

pub(crate) fn lit_bool(pair: &KeyValue) -> syn::Result<LitBool> {
    match pair.lit()? {
        Lit::Bool(b) => Ok(b.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{}` takes `true` or `false`", pair.key),
        )),
    }
}

/// An MQTT QoS level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the names MQTT gives them
pub(crate) enum Qos {
    #[default]
    AtMostOnce,
    AtLeastOnce,
    ExactlyOnce,
}

/// A QoS literal: 0, 1 or 2.
pub(crate) fn qos(pair: &KeyValue) -> syn::Result<Qos> {
    let invalid = |span| {
        syn::Error::new(
            span,
            "qos must be 0, 1 or 2 (at most once, at least once, exactly once)",
        )
    };
    match pair.lit()? {
        Lit::Int(int) => parse_qos(int).ok_or_else(|| invalid(int.span())),
        other => Err(invalid(other.span())),
    }
}

fn parse_qos(int: &LitInt) -> Option<Qos> {
    match int.base10_parse::<u8>().ok()? {
        0 => Some(Qos::AtMostOnce),
        1 => Some(Qos::AtLeastOnce),
        2 => Some(Qos::ExactlyOnce),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_errors_come_back_combined() {
        let mut errors = Errors::default();
        errors.at(Span::call_site(), "first");
        errors.at(Span::call_site(), "second");
        let combined = errors.finish().unwrap_err();
        let messages: Vec<String> = combined.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
        assert!(Errors::default().finish().is_ok());
    }

    #[test]
    #[should_panic(expected = "never reported")]
    fn errors_dropped_unreported_panic_in_debug_builds() {
        let mut errors = Errors::default();
        errors.at(Span::call_site(), "lost");
        drop(errors);
    }
}
