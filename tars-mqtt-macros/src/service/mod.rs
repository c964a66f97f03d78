//! `#[tars::service]`.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn attribute(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = match parse::parse_fn(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let error = error.into_compile_error();
            return quote!(#error #item);
        }
    };
    let spec = parse::parse_args(attr).and_then(|args| validate::validate(&args, &function));
    match spec {
        Ok(spec) => expand::expand(&function, &spec),
        Err(error) => {
            // Keep a `main` so that the only errors are the ones above.
            let error = error.into_compile_error();
            let ident = &function.sig.ident;
            quote!(#error fn #ident() {})
        }
    }
}
