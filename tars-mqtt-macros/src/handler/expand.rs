//! The generated handler: argument checks where the user wrote the types, a `Handler`
//! implementation that extracts the arguments and publishes a returned event as the
//! reply, and its `inventory` registration.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr, ReturnType};

use super::validate::{Arg, ArgKind, HandlerSpec, TopicSource};
use crate::event::qos_path;

/// The marker type naming an argument in `Payload<Name>` errors.
fn marker(arg: &Arg) -> TokenStream {
    let name = &arg.name;
    quote!(__tars_args::#name)
}

/// `Payload<arg>::TOPIC` of an event argument, spanned on its type. Every use is this
/// same projection, so a type that is no event is reported once, naming the argument.
fn event_topic(arg: &Arg) -> TokenStream {
    let ty = arg.typed_event().unwrap_or(&arg.ty);
    let marker = marker(arg);
    quote_spanned!(ty.span()=> <#ty as ::tars::__private::Payload<#marker>>::TOPIC)
}

/// Type checks that report at the argument's type.
fn check(arg: &Arg) -> TokenStream {
    let ty = &arg.ty;
    let span = ty.span();
    match &arg.kind {
        ArgKind::Event => {
            let topic = event_topic(arg);
            quote_spanned! {span=>
                {
                    let _: &'static str = #topic;
                    fn payload<T: ::tars::__private::DeserializeOwned + ::core::marker::Send + 'static>() {}
                    payload::<#ty>();
                }
            }
        }
        ArgKind::Envelope(data) => {
            let span = data.span();
            quote_spanned! {span=>
                {
                    fn envelope_data<T: ::tars::__private::DeserializeOwned + ::core::marker::Send + 'static>() {}
                    envelope_data::<#data>();
                }
            }
        }
        ArgKind::Segment { .. } => quote_spanned! {span=>
            {
                fn segment<T: ::core::str::FromStr>() where T::Err: ::core::fmt::Display {}
                segment::<#ty>();
            }
        },
        ArgKind::Context => quote_spanned! {span=>
            let _: ::core::marker::PhantomData<#ty> = ::core::marker::PhantomData::<::tars::__private::Context>;
        },
        ArgKind::Message => quote_spanned! {span=>
            let _: ::core::marker::PhantomData<#ty> = ::core::marker::PhantomData::<::tars::__private::Message>;
        },
    }
}

/// The statement binding one argument inside the generated handler.
fn extract(arg: &Arg) -> TokenStream {
    let (name, ty) = (&arg.name, &arg.ty);
    match &arg.kind {
        ArgKind::Event => quote! {
            let __tars_envelope = ::tars::__private::decode_event::<#ty>(__tars_message)?;
            let __tars_request_id = ::core::option::Option::Some(__tars_envelope.id);
            let #name = __tars_envelope.data;
        },
        ArgKind::Envelope(data) => quote! {
            let #name = ::tars::__private::decode_envelope::<#data>(__tars_message)?;
            let __tars_request_id = ::core::option::Option::Some(::core::clone::Clone::clone(&#name.id));
        },
        ArgKind::Segment { level } => {
            let segment = LitStr::new(&name.to_string(), name.span());
            quote! { let #name = ::tars::__private::segment::<#ty>(__tars_message, #level, #segment)?; }
        }
        ArgKind::Context => quote! { let #name = ::core::clone::Clone::clone(__tars_ctx); },
        ArgKind::Message => quote! { let #name = ::core::clone::Clone::clone(__tars_message); },
    }
}

/// `assert!` at compile time that the written filter can match the event's topic.
fn topic_matches_event(spec: &HandlerSpec, function: &ItemFn) -> Option<TokenStream> {
    let TopicSource::Written { lit, template } = &spec.topic else {
        return None;
    };
    let payload = spec
        .payload()
        .filter(|a| matches!(a.kind, ArgKind::Event))?;
    let ty = &payload.ty;
    let event_topic = event_topic(payload);
    let filter = &template.filter;
    let type_name = quote!(#ty).to_string().replace(' ', "");
    let message = format!(
        "the topic {:?} of handler `{}` can never match `{type_name}::TOPIC`, the topic its event is published on: \
         fix the topic, or omit it to subscribe to the event's own topic",
        lit.value(),
        function.sig.ident,
    )
    .replace('{', "{{")
    .replace('}', "}}");
    Some(quote_spanned! {lit.span()=>
        const _: () = ::core::assert!(
            ::tars::__private::matches_const(#filter, #event_topic),
            #message
        );
    })
}

/// The `FailurePolicy` written on the handler, as a constant.
fn failure_policy(spec: &HandlerSpec) -> TokenStream {
    fn some<T: quote::ToTokens>(value: Option<T>) -> TokenStream {
        match value {
            Some(value) => quote!(::core::option::Option::Some(#value)),
            None => quote!(::core::option::Option::None),
        }
    }
    let failure = &spec.failure;
    let millis = |ms: Option<u64>| ms.map(|ms| quote!(::core::time::Duration::from_millis(#ms)));
    let retries = some(failure.retries);
    let backoff = some(millis(failure.backoff_ms));
    let max_backoff = some(millis(failure.max_backoff_ms));
    let dead_letter = some(
        failure
            .dead_letter
            .as_ref()
            .map(|topic| quote!(::tars::__private::Cow::Borrowed(#topic))),
    );
    quote! {
        ::tars::__private::FailurePolicy {
            retries: #retries,
            backoff: #backoff,
            max_backoff: #max_backoff,
            dead_letter: #dead_letter,
        }
    }
}

pub(crate) fn expand(function: &ItemFn, spec: &HandlerSpec) -> TokenStream {
    let fn_ident = &function.sig.ident;
    let fn_name = fn_ident.to_string();
    let checks: Vec<TokenStream> = spec.args.iter().map(check).collect();
    // Errors about the return type land on it.
    let span = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => proc_macro2::Span::call_site(),
    };
    let respond = quote_spanned! {span=>
        ::tars::__private::HandlerOutput::respond(__tars_output, __tars_ctx, __tars_message, __tars_request_id.as_deref()).await
    };
    let topic_check = topic_matches_event(spec, function);
    let extracts: Vec<TokenStream> = spec.args.iter().map(extract).collect();
    let names = spec.args.iter().map(|a| &a.name);
    let (topic, filter, segments) = match &spec.topic {
        TopicSource::Written { lit, template } => {
            let filter = LitStr::new(&template.filter, lit.span());
            let names = template.segments.iter().map(|(name, _)| name);
            (quote!(#lit), quote!(#filter), quote!(&[#(#names),*]))
        }
        TopicSource::FromEvent => {
            let payload = spec.payload().expect("FromEvent implies a typed payload");
            let topic = event_topic(payload);
            (topic.clone(), topic, quote!(&[]))
        }
    };
    let qos = qos_path(spec.qos);
    let share = match &spec.share {
        Some(group) => quote!(::core::option::Option::Some(#group)),
        None => quote!(::core::option::Option::None),
    };
    let concurrency = spec.concurrency;
    let queue = match spec.queue {
        Some(capacity) => quote!(::core::option::Option::Some(#capacity)),
        None => quote!(::core::option::Option::None),
    };
    let failure = failure_policy(spec);
    let overflow = match spec.overflow.as_ref().map(LitStr::value).as_deref() {
        Some("drop_oldest") => quote!(::tars::__private::Overflow::DropOldest),
        Some("drop_newest") => quote!(::tars::__private::Overflow::DropNewest),
        _ => quote!(::tars::__private::Overflow::Block),
    };
    // The payload's event type: for `ev: Event`, and for `Envelope<Event>` when the
    // topic comes from the event (with a written topic, `T` may be any type).
    let from_event = matches!(spec.topic, TopicSource::FromEvent);
    let typed = spec
        .payload()
        .filter(|a| matches!(a.kind, ArgKind::Event) || (from_event && a.typed_event().is_some()));
    let event_type = match typed {
        Some(payload) => {
            let ty = payload.typed_event().expect("filtered");
            let marker = marker(payload);
            quote_spanned!(ty.span()=> ::core::option::Option::Some(<#ty as ::tars::__private::Payload<#marker>>::EVENT_TYPE))
        }
        None => quote!(::core::option::Option::None),
    };
    let reply = match &function.sig.output {
        ReturnType::Type(_, ty) => {
            quote_spanned!(ty.span()=> <#ty as ::tars::__private::HandlerOutput>::REPLY)
        }
        ReturnType::Default => quote!(::core::option::Option::None),
    };
    let handler = format_ident!("__TarsHandler");
    let markers = spec
        .args
        .iter()
        .filter(|a| a.typed_event().is_some())
        .map(|a| &a.name);
    quote! {
        #function

        const _: () = {
            #[allow(non_camel_case_types, dead_code)]
            mod __tars_args {
                #(pub struct #markers;)*
            }

            #[allow(dead_code, clippy::let_unit_value)]
            fn __tars_checks() {
                #(#checks)*
            }
            #topic_check

            struct #handler;

            impl ::tars::__private::Handler for #handler {
                fn call<'a>(
                    &'a self,
                    __tars_message: &'a ::tars::__private::Message,
                    __tars_ctx: &'a ::tars::__private::Context,
                ) -> impl ::tars::__private::Future<Output = ::tars::__private::HandlerResult> + ::core::marker::Send + 'a {
                    async move {
                        // Named before the arguments are bound: one may share its name.
                        let __tars_handler_fn = #fn_ident;
                        #[allow(unused_variables)]
                        let __tars_request_id: ::core::option::Option<::std::string::String> = ::core::option::Option::None;
                        #(#extracts)*
                        let __tars_output = __tars_handler_fn(#(#names),*).await;
                        #respond
                    }
                }

                fn name(&self) -> ::core::option::Option<&'static str> {
                    ::core::option::Option::Some(#fn_name)
                }
            }

            fn __tars_install(
                builder: ::tars::__private::ClientBuilder,
                registration: &'static ::tars::__private::HandlerRegistration,
            ) -> ::tars::__private::ClientBuilder {
                builder.subscribe_handler_with(
                    &registration.subscription(),
                    registration.qos,
                    ::core::clone::Clone::clone(&registration.options),
                    #handler,
                )
            }

            ::tars::__private::inventory::submit! {
                ::tars::__private::HandlerRegistration {
                    name: #fn_name,
                    module: ::core::module_path!(),
                    topic: #topic,
                    filter: #filter,
                    segments: #segments,
                    qos: #qos,
                                        share: #share,
                    options: ::tars::__private::HandlerOptions {
                        concurrency: #concurrency,
                        queue_capacity: #queue,
                        overflow: #overflow,
                        failure: #failure,
                    },
                                        event_type: #event_type,
                    reply: #reply,
                    install: __tars_install,
                }
            }
        };
    }
}
