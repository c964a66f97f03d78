//! The model of `#[derive(Settings)]`: the struct, its `#[settings(...)]` and each
//! field's `#[setting(...)]` and doc comment, read into plain data.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Lit, LitStr, Type};

use crate::attr::{check_keys, lit_str, parse_key_values, Errors, KeyValue};
use crate::tokens::Krate;

const STRUCT_KEYS: &[&str] = &["prefix", "crate"];
const FIELD_KEYS: &[&str] = &["env", "default", "min", "max"];

pub(crate) struct Field {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// `env = "TTS_VOICE"`, else the prefix and the field's name in capitals.
    pub(crate) variable: LitStr,
    pub(crate) default: Option<LitStr>,
    pub(crate) min: Option<Lit>,
    pub(crate) max: Option<Lit>,
    /// The first line of its doc comment: what it sets, for `--help`.
    pub(crate) meaning: String,
}

impl Field {
    /// Whether the type is `Option<_>`: unset means `None`.
    pub(crate) fn optional(&self) -> bool {
        matches!(&self.ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
    }
}

pub(crate) struct SettingsInput {
    pub(crate) ident: Ident,
    pub(crate) krate: Krate,
    pub(crate) fields: Vec<Field>,
    /// Where the type has generics, or is no struct with named fields (errors).
    pub(crate) generics: Option<Span>,
    pub(crate) not_a_struct: Option<Span>,
}

fn attribute_pairs(attrs: &[syn::Attribute], name: &str, errors: &mut Errors) -> Vec<KeyValue> {
    let mut pairs = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        let tokens = attr.meta.require_list().map(|list| list.tokens.clone());
        if let Some(parsed) = errors.take(tokens.and_then(parse_key_values)) {
            pairs.extend(parsed);
        }
    }
    pairs
}

fn doc_line(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .find_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_default()
}

fn number(pair: &KeyValue) -> syn::Result<Lit> {
    match pair.lit()? {
        lit @ (Lit::Int(_) | Lit::Float(_)) => Ok(lit.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{}` takes a number, e.g. `{} = 10`", pair.key, pair.key),
        )),
    }
}

/// Reads the derive input; `None` when it is not even a type definition.
pub(crate) fn parse(input: TokenStream, errors: &mut Errors) -> Option<SettingsInput> {
    let input: DeriveInput = errors.take(syn::parse2(input))?;
    let mut krate = Krate::default();
    let mut prefix = String::new();
    let struct_pairs = attribute_pairs(&input.attrs, "settings", errors);
    for pair in check_keys(&struct_pairs, STRUCT_KEYS, errors) {
        match pair.key.to_string().as_str() {
            "prefix" => {
                prefix = errors
                    .take(lit_str(pair))
                    .map(|l| l.value())
                    .unwrap_or_default()
            }
            "crate" => krate = errors.take(Krate::parse(pair)).unwrap_or_default(),
            // Not a key of STRUCT_KEYS: `check_keys` reported it already.
            _ => {}
        }
    }
    let generics = (!input.generics.params.is_empty()).then(|| input.generics.span());
    let (named, not_a_struct) = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => (Some(named), None),
            other => (None, Some(other.span())),
        },
        Data::Enum(e) => (None, Some(e.enum_token.span)),
        Data::Union(u) => (None, Some(u.union_token.span)),
    };
    let mut fields = Vec::new();
    for field in named.into_iter().flat_map(|n| n.named.iter()) {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        let mut variable = LitStr::new(
            &format!("{prefix}{}", ident.to_string().to_uppercase()),
            ident.span(),
        );
        let (mut default, mut min, mut max) = (None, None, None);
        let pairs = attribute_pairs(&field.attrs, "setting", errors);
        for pair in check_keys(&pairs, FIELD_KEYS, errors) {
            match pair.key.to_string().as_str() {
                "env" => {
                    if let Some(lit) = errors.take(lit_str(pair)) {
                        variable = lit;
                    }
                }
                "default" => default = errors.take(lit_str(pair)),
                "min" => min = errors.take(number(pair)),
                "max" => max = errors.take(number(pair)),
                // Not a key of FIELD_KEYS: `check_keys` reported it already.
                _ => {}
            }
        }
        fields.push(Field {
            ident,
            ty: field.ty.clone(),
            variable,
            default,
            min,
            max,
            meaning: doc_line(&field.attrs),
        });
    }
    Some(SettingsInput {
        ident: input.ident,
        krate,
        fields,
        generics,
        not_a_struct,
    })
}
