//! `#[tars::handler(...)]`: `parse.rs` reads the attribute and the function into the
//! model, `validate.rs` checks it, `expand.rs` emits the handler and its registration
//! (`batch.rs` the batch handler of `batch = N`).

mod batch;
mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

use self::parse::HandlerSpec;

use crate::fn_macro::FnMacro;

pub(crate) fn attribute(attr: TokenStream, item: TokenStream) -> TokenStream {
    FnMacro {
        usage: "#[tars::handler] goes on an `async fn`, e.g. `async fn speak(ev: SttFinal, ctx: Context)`",
        parse: parse::parse,
        validate: validate::validate,
        expand,
        // The user's fn is kept, so that code calling it does not fail as well.
        fallback: |function| function.to_token_stream(),
    }
    .run(attr, item)
}

/// A batch handler (`batch = N`) or a handler, inside the expansion both share.
fn expand(function: &ItemFn, spec: &HandlerSpec) -> TokenStream {
    let p = &spec.krate.private();
    let handler = match spec.batch.size {
        Some(_) => batch::batch_handler(p, spec, function),
        None => expand::single_handler(p, spec, function),
    };
    expand::expand(function, spec, handler)
}
