//! `#[derive(Settings)]`: `parse.rs` reads the struct and its attributes into the model,
//! `validate.rs` checks it, `expand.rs` emits the `Settings` impl and its registration.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::attr::Errors;

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let model = parse::parse(input, &mut errors);
    if let Some(model) = &model {
        validate::validate(model, &mut errors);
    }
    match (errors.finish(), model) {
        (Ok(()), Some(model)) => expand::expand(&model),
        (Err(error), _) => error.into_compile_error(),
        // Unreachable: no model means an error was recorded.
        (Ok(()), None) => TokenStream::new(),
    }
}
