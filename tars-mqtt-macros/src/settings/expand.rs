//! The generated `impl Settings` and its registration (for `--help`, `--check` and the
//! service, which builds it at start).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::LitStr;

use super::parse::{Field, SettingsInput};
use crate::tokens::{option, respan};

/// The value shown for a variable's default in `--help`.
fn default_text(field: &Field) -> String {
    match &field.default {
        Some(default) => default.value(),
        None if field.optional() => "unset".to_owned(),
        None => "required".to_owned(),
    }
}

/// `min`/`max` of a field, checked once it is parsed.
fn range_check(p: &TokenStream, field: &Field) -> TokenStream {
    let (ident, variable) = (&field.ident, &field.variable);
    let rule = match (&field.min, &field.max) {
        (Some(min), Some(max)) => format!("must be from {} to {}", quote!(#min), quote!(#max)),
        (Some(min), None) => format!("must be at least {}", quote!(#min)),
        (None, Some(max)) => format!("must be at most {}", quote!(#max)),
        (None, None) => return TokenStream::new(),
    };
    let below = field.min.as_ref().map(|min| quote!(#ident < #min));
    let above = field.max.as_ref().map(|max| quote!(#ident > #max));
    let conditions = below.into_iter().chain(above);
    quote! {
        if #(#conditions)||* {
            return ::core::result::Result::Err(#p::out_of_range(#variable, &#ident, #rule));
        }
    }
}

pub(crate) fn expand(input: &SettingsInput) -> TokenStream {
    let p = &input.krate.private();
    let ident = &input.ident;
    let variables = input.fields.iter().map(|field| {
        let name = &field.variable;
        let default = LitStr::new(&default_text(field), field.variable.span());
        let meaning = LitStr::new(&field.meaning, field.variable.span());
        quote!(#p::Variable { name: #name, default: #default, meaning: #meaning })
    });
    let reads = input.fields.iter().map(|field| {
        let (ident, ty, variable) = (&field.ident, &field.ty, &field.variable);
        let default = option(field.default.as_ref());
        let p_ty = respan(p, ty.span());
        let check = range_check(p, field);
        let read = quote_spanned! {ty.span()=>
            #p_ty::setting::<#ty>(lookup, #variable, #default)?
        };
        quote! {
            let (#ident, __tars_shown) = #read;
            __tars_values.push((#variable, __tars_shown));
            #check
        }
    });
    let names = input.fields.iter().map(|f| &f.ident);
    quote! {
        const _: () = {
            /// The settings and the text `--check` shows for each variable.
            fn __tars_read(
                lookup: &dyn ::core::ops::Fn(&str) -> ::core::option::Option<::std::string::String>,
            ) -> ::core::result::Result<(#ident, ::std::vec::Vec<(&'static str, ::std::string::String)>), #p::ConfigError> {
                let mut __tars_values = ::std::vec::Vec::new();
                #(#reads)*
                ::core::result::Result::Ok((#ident { #(#names),* }, __tars_values))
            }

            impl #p::Settings for #ident {
                const VARIABLES: &'static [#p::Variable] = &[#(#variables),*];

                fn from_lookup(
                    lookup: &dyn ::core::ops::Fn(&str) -> ::core::option::Option<::std::string::String>,
                ) -> ::core::result::Result<Self, #p::ConfigError> {
                    __tars_read(lookup).map(|(settings, _)| settings)
                }
            }

            fn __tars_check(
                lookup: &dyn ::core::ops::Fn(&str) -> ::core::option::Option<::std::string::String>,
            ) -> ::core::result::Result<::std::vec::Vec<(&'static str, ::std::string::String)>, #p::ConfigError> {
                __tars_read(lookup).map(|(_, shown)| shown)
            }

            #p::inventory::submit! {
                #p::SettingsRegistration {
                    type_name: ::core::stringify!(#ident),
                    variables: <#ident as #p::Settings>::VARIABLES,
                    check: __tars_check,
                    provide: #p::provide_settings::<#ident>,
                }
            }
        };
    }
}
