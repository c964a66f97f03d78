//! What the two attribute macros on functions share: the three steps, the parsing of
//! the function, and the checks of its signature.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{ItemFn, Signature};

use crate::attr::{parse_key_values, Errors, KeyValue};

/// One attribute macro on a function: its usage (for the error when the item is not a
/// function), its validation into a spec, its expansion, and what to emit beside the
/// errors so that they do not cascade.
pub(crate) struct FnMacro<S> {
    pub(crate) usage: &'static str,
    pub(crate) validate: fn(&[KeyValue], &ItemFn) -> syn::Result<S>,
    pub(crate) expand: fn(&ItemFn, &S) -> TokenStream,
    pub(crate) fallback: fn(&ItemFn) -> TokenStream,
}

impl<S> FnMacro<S> {
    /// Parses, validates (collecting every error) and expands.
    pub(crate) fn run(&self, attr: TokenStream, item: TokenStream) -> TokenStream {
        let function: ItemFn = match syn::parse2(item.clone()) {
            Ok(function) => function,
            Err(_) => {
                let error = syn::Error::new(Span::call_site(), self.usage).into_compile_error();
                return quote!(#error #item);
            }
        };
        match parse_key_values(attr).and_then(|pairs| (self.validate)(&pairs, &function)) {
            Ok(spec) => (self.expand)(&function, &spec),
            Err(error) => {
                let error = error.into_compile_error();
                let fallback = (self.fallback)(&function);
                quote!(#error #fallback)
            }
        }
    }
}

/// Reports a function that is not `async`, or generic; `what` names it in the message.
pub(crate) fn check_async_and_not_generic(sig: &Signature, what: &str, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!("{what} must be async: write `async fn {}`", sig.ident),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.at(
            sig.generics.span(),
            format!("{what} cannot be generic: name concrete types"),
        );
    }
}
