//! The model of `#[tars::service]`: its attribute and its `main`, read into plain data.

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Type};

use crate::attr::{check_keys, lit_bool, lit_str, positive, Errors, KeyValue};
use crate::duration::duration;
use crate::tokens::Krate;

const KEYS: &[&str] = &[
    "name",
    "worker_threads",
    "drain_timeout",
    "request_timeout",
    "queue",
    "handlers",
    "allow_empty",
    "state",
    "crate",
];

pub(crate) struct ServiceSpec {
    pub(crate) krate: Krate,
    pub(crate) name: Option<LitStr>,
    /// Threads of the service's runtime, when the service chooses.
    pub(crate) worker_threads: Option<usize>,
    /// The type of the body's `Context` argument, when it takes one.
    pub(crate) context: Option<Type>,
    /// Arguments beyond a single `Context`, each reported.
    pub(crate) extra_args: Vec<proc_macro2::Span>,
    /// `drain_timeout` and `request_timeout`, in milliseconds.
    pub(crate) drain_timeout_ms: Option<u64>,
    pub(crate) request_timeout_ms: Option<u64>,
    /// Each handler's queue capacity unless it sets its own.
    pub(crate) queue: Option<usize>,
    /// Library crates whose handlers the service serves: referenced, so that they link.
    pub(crate) handlers: Vec<syn::Path>,
    /// Where `handlers` was written, for errors about the list itself.
    pub(crate) handlers_span: Option<proc_macro2::Span>,
    /// The service may run without handlers and with an empty body.
    pub(crate) allow_empty: bool,
    /// The body of `main` is empty.
    pub(crate) empty_body: bool,
    /// `state = build`: the function building the handlers' shared state.
    pub(crate) state: Option<syn::Path>,
}

pub(crate) fn parse(pairs: &[KeyValue], function: &ItemFn, errors: &mut Errors) -> ServiceSpec {
    let mut spec = ServiceSpec {
        krate: Krate::default(),
        name: None,
        worker_threads: None,
        context: None,
        extra_args: Vec::new(),
        drain_timeout_ms: None,
        request_timeout_ms: None,
        queue: None,
        handlers: Vec::new(),
        handlers_span: None,
        allow_empty: false,
        empty_body: function.block.stmts.is_empty(),
        state: None,
    };
    for pair in check_keys(pairs, KEYS, errors) {
        match pair.key.to_string().as_str() {
            "name" => spec.name = errors.take(lit_str(pair)),
            "worker_threads" => spec.worker_threads = errors.take(positive(pair)),
            "drain_timeout" => spec.drain_timeout_ms = errors.take(duration(pair)),
            "request_timeout" => spec.request_timeout_ms = errors.take(duration(pair)),
            "queue" => spec.queue = errors.take(positive(pair)),
            "handlers" => {
                if let Some(paths) = errors.take(pair.paths()) {
                    spec.handlers = paths.to_vec();
                    spec.handlers_span = Some(pair.value_span());
                }
            }
            "allow_empty" => {
                spec.allow_empty = errors.take(lit_bool(pair)).is_some_and(|b| b.value);
            }
            "state" => {
                spec.state = errors
                    .take(pair.path("a function", "Voices::default"))
                    .cloned();
            }
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
