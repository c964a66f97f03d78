//! The model of `#[derive(Event)]`: the type and its `#[event(...)]` attribute, read
//! into plain data.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Generics, Ident, LitStr};

use crate::attr::{check_keys, lit_bool, lit_str, parse_key_values, qos, Errors, Qos};
use crate::duration::duration;
use crate::tokens::Krate;

const KEYS: &[&str] = &[
    "topic",
    "event_type",
    "qos",
    "retain",
    "expiry",
    "reply_to",
    "crate",
];

/// The shape of the type the derive is on.
pub(crate) enum Shape {
    NamedStruct,
    Other { what: &'static str, span: Span },
}

/// What `#[event(...)]` says.
#[derive(Default)]
pub(crate) struct EventAttrs {
    pub(crate) topic: Option<LitStr>,
    pub(crate) event_type: Option<LitStr>,
    pub(crate) qos: Qos,
    pub(crate) retain: bool,
    /// MQTT 5 message expiry of every publish, in milliseconds.
    pub(crate) expiry_ms: Option<u64>,
    /// `reply_to = LlmRequest`: the request event this one answers.
    pub(crate) reply_to: Option<syn::Path>,
    pub(crate) krate: Krate,
}

pub(crate) struct EventInput {
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) shape: Shape,
    pub(crate) attrs: EventAttrs,
    /// Where to point when `#[event(...)]` or its topic is missing.
    pub(crate) attr_span: Option<Span>,
    /// An `#[event(...)]` or its topic could not be read (already reported): a missing
    /// topic would only repeat that error.
    pub(crate) unreadable: bool,
}

impl EventInput {
    /// The envelope type: as written, or the topic with `/` replaced by `.`.
    pub(crate) fn event_type(&self) -> Option<LitStr> {
        let attrs = &self.attrs;
        attrs.event_type.clone().or_else(|| {
            let topic = attrs.topic.as_ref()?;
            Some(LitStr::new(&topic.value().replace('/', "."), topic.span()))
        })
    }
}

/// Parses the derive input; errors in the attribute's values go to `errors`. `Err` only
/// when the item is not even a type definition.
pub(crate) fn parse(input: TokenStream, errors: &mut Errors) -> syn::Result<EventInput> {
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
    let mut pairs = Vec::new();
    let mut attr_span = None;
    let mut unreadable = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        attr_span.get_or_insert(attr.span());
        let tokens = attr.meta.require_list().map(|list| list.tokens.clone());
        match errors.take(tokens.and_then(parse_key_values)) {
            Some(parsed) => pairs.extend(parsed),
            None => unreadable = true,
        }
    }
    let mut attrs = EventAttrs::default();
    for pair in check_keys(&pairs, KEYS, errors) {
        match pair.key.to_string().as_str() {
            "topic" => {
                attrs.topic = errors.take(lit_str(pair));
                unreadable |= attrs.topic.is_none();
            }
            "event_type" => attrs.event_type = errors.take(lit_str(pair)),
            "qos" => attrs.qos = errors.take(qos(pair)).unwrap_or_default(),
            "retain" => attrs.retain = errors.take(lit_bool(pair)).is_some_and(|b| b.value),
            "expiry" => attrs.expiry_ms = errors.take(duration(pair)),
            "reply_to" => {
                attrs.reply_to = errors
                    .take(pair.path("the request's event type", "LlmRequest"))
                    .cloned();
            }
            "crate" => attrs.krate = errors.take(Krate::parse(pair)).unwrap_or_default(),
            // Not a key of KEYS: `check_keys` reported it already.
            _ => {}
        }
    }
    Ok(EventInput {
        ident: input.ident,
        generics: input.generics,
        shape,
        attrs,
        attr_span,
        unreadable,
    })
}
