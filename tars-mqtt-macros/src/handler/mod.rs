//! `#[tars::handler(...)]`.

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
        // The user's fn is kept, so that code calling it does not fail as well.
        Err(error) => {
            let error = error.into_compile_error();
            quote!(#error #function)
        }
    }
}
