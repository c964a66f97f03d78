//! Parsing the attribute and `main` into plain data.

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
            "#[tars::service] goes on `async fn main()`",
        )
    })
}
