//! The rules of `#[tars::service]`, every broken one reported.

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Type};

use crate::attr::{check_keys, lit_str, positive, Errors, KeyValue};
use crate::fn_macro::check_async_and_not_generic;

const KEYS: &[&str] = &["name", "worker_threads"];

pub(crate) struct ServiceSpec {
    pub(crate) name: Option<LitStr>,
    /// Threads of the service's runtime, when the service chooses.
    pub(crate) worker_threads: Option<usize>,
    /// The type of the body's `Context` argument, when it takes one.
    pub(crate) context: Option<Type>,
}

pub(crate) fn validate(pairs: &[KeyValue], function: &ItemFn) -> syn::Result<ServiceSpec> {
    let mut errors = Errors::default();
    let mut name = None;
    let mut worker_threads = None;
    for pair in check_keys(pairs, KEYS, &mut errors) {
        match pair.key.to_string().as_str() {
            "name" => name = errors.take(lit_str(pair)),
            "worker_threads" => worker_threads = errors.take(positive(pair)),
            other => errors.at(pair.key.span(), format!("unknown key `{other}`")),
        }
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
    Ok(ServiceSpec {
        name,
        worker_threads,
        context,
    })
}
