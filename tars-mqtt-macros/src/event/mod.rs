//! `#[derive(Event)]`: parse, validate, expand. A type whose derive fails still gets a
//! fallback `impl Event`, so that the one mistake is reported once, not again at every
//! use of the type.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::Errors;

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let input = match parse::parse(input, &mut errors) {
        Ok(input) => input,
        Err(error) => {
            errors.push(error);
            return errors
                .finish()
                .err()
                .map(syn::Error::into_compile_error)
                .unwrap_or_default();
        }
    };
    validate::validate(&input, &mut errors);
    match errors.finish() {
        Ok(()) => expand::expand(&input),
        Err(error) => {
            let error = error.into_compile_error();
            let fallback = expand::fallback(&input);
            quote!(#error #fallback)
        }
    }
}
