//! The generated `impl Event`, its handler-payload marker, and its registration.

use proc_macro2::TokenStream;
use quote::quote;

use super::parse::EventInput;
use super::validate::EventSpec;

pub(crate) fn qos_path(qos: u8) -> TokenStream {
    match qos {
        0 => quote!(::tars::__private::QoS::AtMostOnce),
        1 => quote!(::tars::__private::QoS::AtLeastOnce),
        _ => quote!(::tars::__private::QoS::ExactlyOnce),
    }
}

pub(crate) fn expand(input: &EventInput, spec: &EventSpec) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let (topic, event_type, retain) = (&spec.topic, &spec.event_type, spec.retain);
    let qos = qos_path(spec.qos);
    let expiry = match spec.expiry_ms {
        Some(ms) => quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms))),
        None => quote!(::core::option::Option::None),
    };
    let mut payload_generics = input.generics.clone();
    payload_generics
        .params
        .push(syn::parse_quote!(__TarsArgName));
    let (payload_impl_generics, _, _) = payload_generics.split_for_impl();
    let schema = if cfg!(feature = "schemars") {
        quote!(::core::option::Option::Some(::tars::__private::schema_of::<#ident>))
    } else {
        quote!(::core::option::Option::None)
    };
    // Generic events cannot be registered as one static; they still implement Event.
    let registration = input.generics.params.is_empty().then(|| {
        quote! {
            ::tars::__private::inventory::submit! {
                ::tars::__private::EventRegistration {
                    type_name: ::core::stringify!(#ident),
                    topic: #topic,
                    event_type: #event_type,
                    qos: #qos,
                                        retain: #retain,
                    schema: #schema,
                }
            }
        }
    });
    quote! {
        const _: () = {
            impl #impl_generics ::tars::__private::Event for #ident #ty_generics #where_clause {
                const TOPIC: &'static str = #topic;
                const EVENT_TYPE: &'static str = #event_type;
                const QOS: ::tars::__private::QoS = #qos;
                const RETAIN: bool = #retain;
                const EXPIRY: ::core::option::Option<::core::time::Duration> = #expiry;
            }
            impl #payload_impl_generics ::tars::__private::Payload<__TarsArgName> for #ident #ty_generics #where_clause {
                                const TOPIC: &'static str = #topic;
                const EVENT_TYPE: &'static str = #event_type;
            }
            #registration
        };
    }
}
