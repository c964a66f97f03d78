//! The generated batch handler (`batch = N`): each message of a batch decoded into the
//! `Vec`'s item, the function called once for the batch, and its outcome mapped back
//! onto the messages; and the `BatchOptions` it is installed with.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr, ReturnType};

use super::expand::{expected_type, handler_item, HandlerImpl};
use super::parse::{Arg, ArgKind, HandlerSpec, TopicSource, DEFAULT_BATCH_WINDOW_MS};
use crate::tokens::{option, respan};

/// The closure decoding one message into the batch's item type.
fn decode_item(p: &TokenStream, spec: &HandlerSpec, item: &Arg) -> TokenStream {
    let ty = &item.ty;
    let expected = expected_type(p, spec, item);
    match &item.kind {
        ArgKind::Event => quote! {
            |__tars_message| #p::decode_event::<#ty>(__tars_message, #expected)
                .map(|__tars_envelope| __tars_envelope.data)
        },
        ArgKind::Envelope(data) => quote! {
            |__tars_message| #p::decode_envelope::<#data>(__tars_message, #expected)
        },
        // `Vec<Message>`; validation allows no other item.
        _ => quote! {
            |__tars_message: &#p::Message| ::core::result::Result::Ok(
                ::core::clone::Clone::clone(__tars_message),
            )
        },
    }
}

/// The statement binding one argument: the batch's items, the context, a state, or
/// the batch key's segment (the same for every message of the batch). A state or key
/// that cannot be read fails the batch.
fn extract(p: &TokenStream, arg: &Arg) -> TokenStream {
    let (name, ty) = (&arg.name, &arg.ty);
    let fail = quote! {
        return __tars_batch.finish(::core::result::Result::Err(
            #p::BatchError::Batch(__tars_error),
        ))
    };
    match &arg.kind {
        ArgKind::Batch(_) => quote! { let #name = __tars_items; },
        ArgKind::Context => quote! { let #name = ::core::clone::Clone::clone(__tars_ctx); },
        ArgKind::State(state) => quote! {
            let #name = match #p::state::<#state>(__tars_ctx) {
                ::core::result::Result::Ok(__tars_state) => __tars_state,
                ::core::result::Result::Err(__tars_error) => #fail,
            };
        },
        ArgKind::Segment { level } => {
            let segment = LitStr::new(&name.to_string(), name.span());
            quote! {
                let #name = match #p::segment::<#ty>(&__tars_messages[0], #level, #segment) {
                    ::core::result::Result::Ok(__tars_segment) => __tars_segment,
                    ::core::result::Result::Err(__tars_error) => #fail,
                };
            }
        }
        // Refused by validation.
        ArgKind::Event | ArgKind::Envelope(_) | ArgKind::Message => quote! {},
    }
}

/// The handler's `BatchOptions`, as a constant expression.
fn batch_options(p: &TokenStream, spec: &HandlerSpec) -> TokenStream {
    let size = spec.batch.size.as_ref().map_or(1, |(size, _)| *size);
    let window = spec
        .batch
        .window_ms
        .as_ref()
        .map_or(DEFAULT_BATCH_WINDOW_MS, |(ms, _)| *ms);
    let key_level = spec.batch.key.as_ref().and_then(|key| match &spec.topic {
        TopicSource::Written { template, .. } => template
            .segments
            .iter()
            .find(|(name, _)| *name == key.value())
            .map(|(_, level)| *level),
        _ => None,
    });
    let key_level = option(key_level);
    quote! {
        #p::BatchOptions {
            size: #size,
            window: ::core::time::Duration::from_millis(#window),
            key_level: #key_level,
        }
    }
}

pub(super) fn batch_handler(p: &TokenStream, spec: &HandlerSpec, function: &ItemFn) -> HandlerImpl {
    let fn_ident = &function.sig.ident;
    let item = spec.payload().map(Arg::item);
    let decode = item.map(|item| decode_item(p, spec, item));
    let extracts = spec.args.iter().map(|arg| extract(p, arg));
    let names = spec.args.iter().map(|a| &a.name);
    let output_span = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => proc_macro2::Span::call_site(),
    };
    // A return type that is no batch outcome is reported at it.
    let p_output = respan(p, output_span);
    let outcome = quote_spanned! {output_span=>
        #p_output::IntoBatchResult::into_batch_result(__tars_output)
    };
    let body = quote_spanned! {fn_ident.span()=>
        async move {
            // Named before the arguments are bound: one may share its name.
            let __tars_handler_fn = #fn_ident;
            let (__tars_items, __tars_batch) = #p::decode_batch(__tars_messages, #decode);
            if __tars_items.is_empty() {
                return __tars_batch.finish(::core::result::Result::Ok(()));
            }
            #(#extracts)*
            let __tars_output = __tars_handler_fn(#(#names),*).await;
            __tars_batch.finish(#outcome)
        }
    };
    let options = batch_options(p, spec);
    HandlerImpl {
        item: handler_item(
            p,
            function,
            quote!(BatchHandler),
            quote!(__tars_messages: &'a [#p::Message]),
            quote!(BatchResult),
            body,
        ),
        install: quote! {
            builder.subscribe_batch_with(
                &registration.subscription(),
                registration.qos,
                ::core::clone::Clone::clone(&registration.options),
                #options,
                __TarsHandler,
            )
        },
        reply: quote!(::core::option::Option::None),
        batch: quote!(::core::option::Option::Some(#options)),
    }
}
