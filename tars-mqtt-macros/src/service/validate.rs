//! The rules of `#[tars::service]`: every broken one reported.

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
    for span in &spec.extra_args {
        errors.at(
            *span,
            "the service body takes nothing, or a single `ctx: Context`",
        );
    }
}
