//! The rules of `#[tars::service]`, every broken one reported.

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Type};

use crate::attr::{check_keys, lit_str, Errors, KeyValue};
use crate::fn_macro::check_async_and_not_generic;

const KEYS: &[&str] = &["name"];

pub(crate) struct ServiceSpec {
    pub(crate) name: Option<LitStr>,
    /// The type of the body's `Context` argument, when it takes one.
    pub(crate) context: Option<Type>,
}

pub(crate) fn validate(pairs: &[KeyValue], function: &ItemFn) -> syn::Result<ServiceSpec> {
    let mut errors = Errors::default();
    let mut name = None;
    for pair in check_keys(pairs, KEYS, &mut errors) {
        name = errors.take(lit_str(pair));
    }
    if let Some(lit) = &name {
        let value = lit.value();
        if value.trim().is_empty() || value.contains(['+', '#', '\0']) {
            errors.at(lit.span(), "the service name is its default MQTT client id: non-empty, without `+`, `#` or NUL");
        }
    }
    let sig = &function.sig;
    check_async_and_not_generic(sig, "the #[tars::service] function", &mut errors);
    let mut context = None;
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Typed(typed) if index == 0 => context = Some((*typed.ty).clone()),
            other => errors.at(
                other.span(),
                "the service body takes nothing, or a single `ctx: Context`",
            ),
        }
    }
    errors.finish()?;
    Ok(ServiceSpec { name, context })
}
