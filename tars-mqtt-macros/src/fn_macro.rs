//! What the two attribute macros on functions share: the three steps, the parsing of
//! the function, and the checks of its signature.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{ItemFn, Signature};

use crate::attr::{parse_key_values, Errors, KeyValue};

/// One attribute macro on a function: its usage (for the error when the item is not a
/// function), its three steps into and out of its model `M`, and what to emit beside
/// the errors so that they do not cascade.
pub(crate) struct FnMacro<M> {
    pub(crate) usage: &'static str,
    pub(crate) parse: fn(&[KeyValue], &ItemFn, &mut Errors) -> M,
    pub(crate) validate: fn(&M, &ItemFn, &mut Errors),
    pub(crate) expand: fn(&ItemFn, &M) -> TokenStream,
    pub(crate) fallback: fn(&ItemFn) -> TokenStream,
}

impl<M> FnMacro<M> {
    /// Parses, validates (collecting every error of both) and expands.
    pub(crate) fn run(&self, attr: TokenStream, item: TokenStream) -> TokenStream {
        let function: ItemFn = match syn::parse2(item.clone()) {
            Ok(function) => function,
            Err(_) => {
                let error = syn::Error::new(Span::call_site(), self.usage).into_compile_error();
                return quote!(#error #item);
            }
        };
        let fallback = || {
            let fallback = (self.fallback)(&function);
            move |error: syn::Error| {
                let error = error.into_compile_error();
                quote!(#error #fallback)
            }
        };
        // Attribute syntax first: without its keys, the rules would only add noise.
        let pairs = match parse_key_values(attr) {
            Ok(pairs) => pairs,
            Err(error) => return fallback()(error),
        };
        let mut errors = Errors::default();
        let model = (self.parse)(&pairs, &function, &mut errors);
        (self.validate)(&model, &function, &mut errors);
        match errors.finish() {
            Ok(()) => (self.expand)(&function, &model),
            Err(error) => fallback()(error),
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
