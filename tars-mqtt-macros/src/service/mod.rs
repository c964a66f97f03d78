//! `#[tars::service]`: `parse.rs` reads the attribute and `main` into the model,
//! `validate.rs` checks it, `expand.rs` emits the generated `main`.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

use crate::fn_macro::FnMacro;

pub(crate) fn attribute(attr: TokenStream, item: TokenStream) -> TokenStream {
    FnMacro {
        usage: "#[tars::service] goes on `async fn main()`",
        parse: parse::parse,
        validate: validate::validate,
        expand: expand::expand,
        // Keep a `main`, so that the only errors are the macro's.
        fallback: |function| {
            let ident = &function.sig.ident;
            quote!(fn #ident() {})
        },
    }
    .run(attr, item)
}
