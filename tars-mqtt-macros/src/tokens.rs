//! Token helpers the three expansions share: the path to the runtime crate (`crate =
//! "..."`), QoS levels and options.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::{LitStr, Path};

use crate::attr::{lit_str, KeyValue, Qos};

/// The path of the runtime crate in the user's code: `::tars`, or what `crate = "..."`
/// names when the dependency is renamed.
pub(crate) struct Krate(Path);

impl Default for Krate {
    fn default() -> Self {
        Self(syn::parse_quote!(::tars))
    }
}

impl Krate {
    /// `crate = "my_tars"`: a path, e.g. the name the dependency is renamed to.
    pub(crate) fn parse(pair: &KeyValue) -> syn::Result<Self> {
        let lit: LitStr = lit_str(pair)?;
        lit.parse::<Path>().map(Self).map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!(
                    "`crate = {:?}` is not a path: name the tars-mqtt dependency as your Cargo.toml renames it, \
                     e.g. `crate = \"bus\"` for `bus = {{ package = \"tars-mqtt\", ... }}`",
                    lit.value()
                ),
            )
        })
    }

    /// The generated code's support module: `::tars::__private`.
    pub(crate) fn private(&self) -> TokenStream {
        let path = &self.0;
        quote!(#path::__private)
    }
}

/// The same tokens, all with `span`: a path interpolated into `quote_spanned!` keeps
/// the spans it was made with, and an error about the expression should point at one
/// place (the user's type), not half at the attribute.
pub(crate) fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(&group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// A QoS level as a `QoS` value.
pub(crate) fn qos_path(private: &TokenStream, qos: Qos) -> TokenStream {
    match qos {
        Qos::AtMostOnce => quote!(#private::QoS::AtMostOnce),
        Qos::AtLeastOnce => quote!(#private::QoS::AtLeastOnce),
        Qos::ExactlyOnce => quote!(#private::QoS::ExactlyOnce),
    }
}

/// `Some(value)` or `None`.
pub(crate) fn option<T: ToTokens>(value: Option<T>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}
