//! `#[derive(Event)]`.

mod expand;

pub(crate) use expand::qos_path;
mod parse;
mod validate;

use proc_macro2::TokenStream;

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let result = parse::parse(input).and_then(|input| {
        let spec = validate::validate(&input)?;
        Ok(expand::expand(&input, &spec))
    });
    result.unwrap_or_else(syn::Error::into_compile_error)
}
