//! The rules of `#[tars::service]`: every broken one reported.

use syn::spanned::Spanned;
use syn::ItemFn;

use super::parse::ServiceSpec;
use crate::attr::Errors;
use crate::fn_macro::check_async_and_not_generic;

pub(crate) fn validate(spec: &ServiceSpec, function: &ItemFn, errors: &mut Errors) {
    if let Some(lit) = &spec.name {
        let value = lit.value();
        if value.trim().is_empty() || value.contains(['+', '#', '\0']) {
            errors.at(lit.span(), "the service name is its default MQTT client id: non-empty, without `+`, `#` or NUL");
        }
    }
    check_async_and_not_generic(&function.sig, "the #[tars::service] function", errors);
    if let (Some(span), true) = (spec.handlers_span, spec.handlers.is_empty()) {
        errors.at(
            span,
            "`handlers` lists the library crates whose #[tars::handler]s this service serves, e.g. `handlers = [tts_core]`; \
             remove it if they are all in this crate",
        );
    }
    for path in &spec.handlers {
        let first = path.segments.first().map(|s| s.ident.to_string());
        if matches!(first.as_deref(), Some("crate" | "self" | "super")) {
            errors.at(
                path.span(),
                "`handlers` names library crates (as in Cargo.toml, with `_` for `-`); this crate's own handlers need no entry",
            );
        }
    }
    for span in &spec.extra_args {
        errors.at(
            *span,
            "the service body takes nothing, or a single `ctx: Context`",
        );
    }
}
