//! The model of `#[tars::service]`: its attribute and its `main`, read into plain data.

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Type};

use crate::attr::{check_keys, lit_str, positive, Errors, KeyValue};
use crate::tokens::Krate;

const KEYS: &[&str] = &["name", "worker_threads", "crate"];

pub(crate) struct ServiceSpec {
    pub(crate) krate: Krate,
    pub(crate) name: Option<LitStr>,
    /// Threads of the service's runtime, when the service chooses.
    pub(crate) worker_threads: Option<usize>,
    /// The type of the body's `Context` argument, when it takes one.
    pub(crate) context: Option<Type>,
    /// Arguments beyond a single `Context`, each reported.
    pub(crate) extra_args: Vec<proc_macro2::Span>,
}

pub(crate) fn parse(pairs: &[KeyValue], function: &ItemFn, errors: &mut Errors) -> ServiceSpec {
    let mut spec = ServiceSpec {
        krate: Krate::default(),
        name: None,
        worker_threads: None,
        context: None,
        extra_args: Vec::new(),
    };
    for pair in check_keys(pairs, KEYS, errors) {
        match pair.key.to_string().as_str() {
            "name" => spec.name = errors.take(lit_str(pair)),
            "worker_threads" => spec.worker_threads = errors.take(positive(pair)),
            "crate" => spec.krate = errors.take(Krate::parse(pair)).unwrap_or_default(),
            // Not a key of KEYS: `check_keys` reported it already.
            _ => {}
        }
    }
    for (index, input) in function.sig.inputs.iter().enumerate() {
        match input {
            FnArg::Typed(typed) if index == 0 => spec.context = Some((*typed.ty).clone()),
            other => spec.extra_args.push(other.span()),
        }
    }
    spec
}
