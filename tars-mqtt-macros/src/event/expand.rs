//! The generated `impl Event`, its handler-payload marker, and its registration; or,
//! when the derive failed, a fallback with the same impls.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::LitStr;

use super::parse::EventInput;
use crate::tokens::{option, qos_path, respan};

/// The constants of the generated impls.
struct Constants {
    topic: LitStr,
    event_type: LitStr,
    qos: TokenStream,
    retain: bool,
    expiry: TokenStream,
    /// A stand-in for a type whose derive failed.
    fallback: bool,
}

/// `impl Event` and `impl Payload<_>` for the type.
fn impls(input: &EventInput, c: &Constants) -> TokenStream {
    let private = input.attrs.krate.private();
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let Constants {
        topic,
        event_type,
        qos,
        retain,
        expiry,
        fallback,
    } = c;
    let mut payload_generics = input.generics.clone();
    payload_generics
        .params
        .push(syn::parse_quote!(__TarsArgName));
    let (payload_impl_generics, _, _) = payload_generics.split_for_impl();
    quote! {
        impl #impl_generics #private::Event for #ident #ty_generics #where_clause {
            const TOPIC: &'static str = #topic;
            const EVENT_TYPE: &'static str = #event_type;
            const QOS: #private::QoS = #qos;
            const RETAIN: bool = #retain;
            const EXPIRY: ::core::option::Option<::core::time::Duration> = #expiry;
        }
        impl #payload_impl_generics #private::Payload<__TarsArgName> for #ident #ty_generics #where_clause {
            const TOPIC: &'static str = #topic;
            const EVENT_TYPE: &'static str = #event_type;
            const FALLBACK: bool = #fallback;
        }
    }
}

pub(crate) fn expand(input: &EventInput) -> TokenStream {
    let attrs = &input.attrs;
    let private = attrs.krate.private();
    let ident = &input.ident;
    let span = input.ident.span();
    let constants = Constants {
        topic: attrs.topic.clone().unwrap_or_else(|| LitStr::new("", span)),
        event_type: input.event_type().unwrap_or_else(|| LitStr::new("", span)),
        qos: qos_path(&private, attrs.qos),
        retain: attrs.retain,
        expiry: option(
            attrs
                .expiry_ms
                .map(|ms| quote!(::core::time::Duration::from_millis(#ms))),
        ),
        fallback: false,
    };
    let schema = option(cfg!(feature = "schemars").then(|| quote!(#private::schema_of::<#ident>)));
    let reply_to = option(attrs.reply_to.as_ref().map(|request| {
        let p = respan(&private, request.span());
        quote_spanned!(request.span()=> <#request as #p::Event>::EVENT_TYPE)
    }));
    // Generic events cannot be registered as one static; they still implement Event.
    let registration = input.generics.params.is_empty().then(|| {
        let Constants {
            topic,
            event_type,
            qos,
            retain,
            ..
        } = &constants;
        quote! {
            #private::inventory::submit! {
                #private::EventRegistration {
                    type_name: ::core::stringify!(#ident),
                    topic: #topic,
                    event_type: #event_type,
                    qos: #qos,
                    retain: #retain,
                    reply_to: #reply_to,
                    schema: #schema,
                }
            }
        }
    });
    let impls = impls(input, &constants);
    quote! {
        const _: () = {
            #impls
            #registration
        };
    }
}

/// The impls of a type whose derive failed, with empty values and no registration:
/// code using the type compiles on, so the derive's error is the only one.
pub(crate) fn fallback(input: &EventInput) -> TokenStream {
    let private = input.attrs.krate.private();
    let span = input.ident.span();
    let impls = impls(
        input,
        &Constants {
            topic: LitStr::new("", span),
            event_type: LitStr::new("", span),
            qos: qos_path(&private, Default::default()),
            retain: false,
            expiry: option(None::<TokenStream>),
            fallback: true,
        },
    );
    quote! {
        const _: () = {
            #impls
        };
    }
}
