//! `key = literal` attribute arguments, shared by the three macros, and error collection.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitInt, LitStr, MetaNameValue, Token};

/// One `key = literal` argument.
pub(crate) struct KeyValue {
    pub(crate) key: Ident,
    pub(crate) value: Lit,
}

/// Collects every error instead of stopping at the first.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

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

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Parses `key = literal, ...`; syntax errors are returned, keys are not checked yet.
pub(crate) fn parse_key_values(tokens: TokenStream) -> syn::Result<Vec<KeyValue>> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(tokens)?;
    pairs
        .into_iter()
        .map(|pair| {
            let key = pair.path.get_ident().cloned().ok_or_else(|| {
                syn::Error::new(
                    pair.path.span(),
                    "expected a single key name such as `topic`",
                )
            })?;
            match pair.value {
                Expr::Lit(ExprLit { lit, .. }) => Ok(KeyValue { key, value: lit }),
                other => Err(syn::Error::new(
                    other.span(),
                    format!(
                        "`{key}` takes a literal value, e.g. `{key} = {}`",
                        example(&key.to_string())
                    ),
                )),
            }
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
            errors.at(
                pair.key.span(),
                format!("unknown key `{key}`; expected one of {expected}"),
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

pub(crate) fn lit_str(pair: &KeyValue) -> syn::Result<LitStr> {
    match &pair.value {
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

pub(crate) fn lit_bool(pair: &KeyValue) -> syn::Result<LitBool> {
    match &pair.value {
        Lit::Bool(b) => Ok(b.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{}` takes `true` or `false`", pair.key),
        )),
    }
}

/// A QoS literal: 0, 1 or 2.
pub(crate) fn qos(pair: &KeyValue) -> syn::Result<u8> {
    let invalid = |span| {
        syn::Error::new(
            span,
            "qos must be 0, 1 or 2 (at most once, at least once, exactly once)",
        )
    };
    match &pair.value {
        Lit::Int(int) => parse_qos(int).ok_or_else(|| invalid(int.span())),
        other => Err(invalid(other.span())),
    }
}

fn parse_qos(int: &LitInt) -> Option<u8> {
    int.base10_parse::<u8>().ok().filter(|q| *q <= 2)
}
