//! Parsing the derive input into plain data.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Generics, Ident};

use crate::attr::{parse_key_values, KeyValue};

/// The shape of the type the derive is on.
pub(crate) enum Shape {
    NamedStruct,
    Other { what: &'static str, span: Span },
}

pub(crate) struct EventInput {
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) shape: Shape,
    /// Every `key = value` of every `#[event(...)]` attribute.
    pub(crate) args: Vec<KeyValue>,
    /// Where to point when `#[event(...)]` is missing.
    pub(crate) attr_span: Option<Span>,
}

pub(crate) fn parse(input: TokenStream) -> syn::Result<EventInput> {
    let input: DeriveInput = syn::parse2(input)?;
    let shape = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(_) => Shape::NamedStruct,
            Fields::Unnamed(f) => Shape::Other {
                what: "a tuple struct",
                span: f.span(),
            },
            Fields::Unit => Shape::Other {
                what: "a unit struct",
                span: input.ident.span(),
            },
        },
        Data::Enum(e) => Shape::Other {
            what: "an enum",
            span: e.enum_token.span,
        },
        Data::Union(u) => Shape::Other {
            what: "a union",
            span: u.union_token.span,
        },
    };
    let mut args = Vec::new();
    let mut attr_span = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        attr_span.get_or_insert(attr.span());
        let list = attr.meta.require_list()?;
        args.extend(parse_key_values(list.tokens.clone())?);
    }
    Ok(EventInput {
        ident: input.ident,
        generics: input.generics,
        shape,
        args,
        attr_span,
    })
}
