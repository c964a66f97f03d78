//! Parsing the attribute and the function into plain data.

use proc_macro2::{Span, TokenStream};
use syn::ItemFn;

use crate::attr::{parse_key_values, KeyValue};

pub(crate) fn parse_args(attr: TokenStream) -> syn::Result<Vec<KeyValue>> {
    parse_key_values(attr)
}

pub(crate) fn parse_fn(item: TokenStream) -> syn::Result<ItemFn> {
    syn::parse2(item).map_err(|_| {
        syn::Error::new(
            Span::call_site(),
            "#[tars::handler] goes on an `async fn`, e.g. `async fn speak(ev: SttFinal, ctx: Context)`",
        )
    })
}
