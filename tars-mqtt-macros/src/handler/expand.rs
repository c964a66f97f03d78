//! The generated handler: argument checks where the user wrote the types, a `Handler`
//! implementation that extracts the arguments and publishes a returned event as the
//! reply, and its `inventory` registration.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr, ReturnType};

use super::parse::{Arg, ArgKind, FailureSpec, HandlerSpec, Overflow, RetainHandling, TopicSource};
use crate::tokens::{option, qos_path, respan};

/// The marker type naming an argument in `Payload<Name>` errors.
fn marker(arg: &Arg) -> TokenStream {
    let name = &arg.name;
    quote!(__tars_args::#name)
}

/// `Payload<arg>::TOPIC` of an event argument, spanned on its type. Every use is this
/// same projection, so a type that is no event is reported once, naming the argument.
pub(super) fn event_const(p: &TokenStream, arg: &Arg, name: &str) -> TokenStream {
    let ty = arg.typed_event().unwrap_or(&arg.ty);
    let p = respan(p, ty.span());
    let marker = marker(arg);
    let name = format_ident!("{name}");
    quote_spanned!(ty.span()=> <#ty as #p::Payload<#marker>>::#name)
}

/// Type checks that report at the argument's type.
fn check(p: &TokenStream, arg: &Arg) -> TokenStream {
    let ty = &arg.ty;
    let span = ty.span();
    let p = &respan(p, span);
    match &arg.kind {
        ArgKind::Event => {
            let topic = event_const(p, arg, "TOPIC");
            quote_spanned! {span=>
                {
                    let _: &'static str = #topic;
                    fn payload<T: #p::DeserializeOwned + ::core::marker::Send + 'static>() {}
                    payload::<#ty>();
                }
            }
        }
        ArgKind::Envelope(data) => {
            let span = data.span();
            let p = respan(p, span);
            quote_spanned! {span=>
                {
                    fn envelope_data<T: #p::DeserializeOwned + ::core::marker::Send + 'static>() {}
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
            let _: ::core::marker::PhantomData<#ty> = ::core::marker::PhantomData::<#p::Context>;
        },
        ArgKind::State(state) => {
            let span = state.span();
            quote_spanned! {span=>
                {
                    fn shared_state<T: ::core::marker::Send + ::core::marker::Sync + 'static>() {}
                    shared_state::<#state>();
                }
            }
        }
        ArgKind::Message => quote_spanned! {span=>
            let _: ::core::marker::PhantomData<#ty> = ::core::marker::PhantomData::<#p::Message>;
        },
        ArgKind::Batch(item) => check(p, item),
    }
}

/// The envelope `type` an event argument takes (checked on every message), or `None`:
/// any type (`any_type = true`, or `Envelope<T>` of a `T` that is no event).
pub(super) fn expected_type(p: &TokenStream, spec: &HandlerSpec, arg: &Arg) -> TokenStream {
    if spec.any_type.as_ref().is_some_and(|flag| flag.value) {
        return quote!(::core::option::Option::None);
    }
    match &arg.kind {
        ArgKind::Event => {
            let event_type = event_const(p, arg, "EVENT_TYPE");
            quote!(::core::option::Option::Some(#event_type))
        }
        ArgKind::Envelope(data) => quote!(<#p::EventOf<#data>>::EVENT_TYPE),
        ArgKind::Batch(item) => expected_type(p, spec, item),
        ArgKind::Context | ArgKind::Message | ArgKind::Segment { .. } | ArgKind::State(_) => {
            quote!(::core::option::Option::None)
        }
    }
}

/// The statement binding one argument inside the generated handler.
fn extract(p: &TokenStream, spec: &HandlerSpec, arg: &Arg) -> TokenStream {
    let (name, ty) = (&arg.name, &arg.ty);
    let expected = expected_type(p, spec, arg);
    match &arg.kind {
        ArgKind::Event => quote! {
            let __tars_envelope = #p::decode_event::<#ty>(__tars_message, #expected)?;
            let __tars_request_id = ::core::option::Option::Some(__tars_envelope.id);
            let #name = __tars_envelope.data;
        },
        ArgKind::Envelope(data) => quote! {
            let #name = #p::decode_envelope::<#data>(__tars_message, #expected)?;
            let __tars_request_id = ::core::option::Option::Some(::core::clone::Clone::clone(&#name.id));
        },
        ArgKind::Segment { level } => {
            let segment = LitStr::new(&name.to_string(), name.span());
            quote! { let #name = #p::segment::<#ty>(__tars_message, #level, #segment)?; }
        }
        ArgKind::Context => quote! { let #name = ::core::clone::Clone::clone(__tars_ctx); },
        ArgKind::State(state) => quote! { let #name = #p::state::<#state>(__tars_ctx)?; },
        ArgKind::Message => quote! { let #name = ::core::clone::Clone::clone(__tars_message); },
        // A batch handler binds its arguments in `batch.rs`; validation refuses a
        // `Vec` anywhere else.
        ArgKind::Batch(_) => quote! {},
    }
}

/// `assert!` at compile time that the written filter can match the event's topic: for
/// `ev: Event`, and for `Envelope<T>` when `T` is an event.
fn topic_matches_event(
    p: &TokenStream,
    spec: &HandlerSpec,
    function: &ItemFn,
) -> Option<TokenStream> {
    let TopicSource::Written { lit, template } = &spec.topic else {
        return None;
    };
    let payload = spec.payload()?.item();
    let ty = payload.typed_event()?;
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
    let p = respan(p, lit.span());
    let topic = match &payload.kind {
        ArgKind::Event => {
            let topic = event_const(&p, payload, "TOPIC");
            let fallback = event_const(&p, payload, "FALLBACK");
            quote_spanned!(lit.span()=> if #fallback { ::core::option::Option::None } else { ::core::option::Option::Some(#topic) })
        }
        // `T` may be any data type: only an event's topic is checked.
        _ => quote_spanned!(lit.span()=> <#p::EventOf<#ty>>::TOPIC),
    };
    Some(quote_spanned! {lit.span()=>
        const _: () = if let ::core::option::Option::Some(__tars_topic) = #topic {
            ::core::assert!(#p::matches_const(#filter, __tars_topic), #message);
        };
    })
}

/// The `FailurePolicy` written on the handler, as a constant.
fn failure_policy(p: &TokenStream, failure: &FailureSpec) -> TokenStream {
    let millis = |ms: Option<u64>| ms.map(|ms| quote!(::core::time::Duration::from_millis(#ms)));
    let retries = option(failure.retries);
    let backoff = option(millis(failure.backoff_ms));
    let max_backoff = option(millis(failure.max_backoff_ms));
    let dead_letter = option(
        failure
            .dead_letter
            .as_ref()
            .map(|topic| quote!(#p::Cow::Borrowed(#topic))),
    );
    quote! {
        #p::FailurePolicy {
            retries: #retries,
            backoff: #backoff,
            max_backoff: #max_backoff,
            dead_letter: #dead_letter,
        }
    }
}

/// The handler's `HandlerOptions`, as a constant.
fn options(p: &TokenStream, spec: &HandlerSpec) -> TokenStream {
    let concurrency = spec.concurrency;
    let queue = option(spec.queue);
    let intake_bytes = option(spec.intake_bytes);
    let overflow = match spec.overflow {
        Overflow::Block => quote!(#p::Overflow::Block),
        Overflow::DropOldest => quote!(#p::Overflow::DropOldest),
        Overflow::DropNewest => quote!(#p::Overflow::DropNewest),
    };
    let failure = failure_policy(p, &spec.failure);
    let group = option(
        spec.group
            .as_ref()
            .map(|group| quote!(#p::Cow::Borrowed(#group))),
    );
    let no_local = spec.subscribe.no_local.as_ref().is_some_and(|f| f.value);
    let retain_as_published = spec.subscribe.retain_as_published;
    let retain_handling = match spec.subscribe.retain_handling {
        RetainHandling::OnSubscribe => quote!(#p::RetainHandling::OnSubscribe),
        RetainHandling::OnNewSubscription => quote!(#p::RetainHandling::OnNewSubscription),
        RetainHandling::Never => quote!(#p::RetainHandling::Never),
    };
    quote! {
        #p::HandlerOptions {
            concurrency: #concurrency,
            queue_capacity: #queue,
            overflow: #overflow,
            intake_bytes: #intake_bytes,
            failure: #failure,
            group: #group,
            subscribe: #p::SubscribeOptions {
                no_local: #no_local,
                retain_as_published: #retain_as_published,
                retain_handling: #retain_handling,
            },
        }
    }
}

/// The topic as written, the filter subscribed, and the template's segment names.
fn topic(p: &TokenStream, spec: &HandlerSpec) -> (TokenStream, TokenStream, TokenStream) {
    match &spec.topic {
        TopicSource::Written { lit, template } => {
            let filter = LitStr::new(&template.filter, lit.span());
            let names = template.segments.iter().map(|(name, _)| name);
            (quote!(#lit), quote!(#filter), quote!(&[#(#names),*]))
        }
        TopicSource::FromEvent => {
            let topic = spec
                .payload()
                .map(|payload| event_const(p, payload.item(), "TOPIC"))
                .unwrap_or_else(|| quote!(""));
            (topic.clone(), topic, quote!(&[]))
        }
        // Reported by `validate`: nothing is expanded.
        TopicSource::Missing | TopicSource::Invalid => (quote!(""), quote!(""), quote!(&[])),
    }
}

/// The generated `Handler`: its arguments read from the message, the function called,
/// and its output answered; and the call that installs it.
pub(super) fn single_handler(
    p: &TokenStream,
    spec: &HandlerSpec,
    function: &ItemFn,
) -> HandlerImpl {
    let fn_ident = &function.sig.ident;
    let output_span = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => proc_macro2::Span::call_site(),
    };
    // Errors about the return type land on it.
    let p_output = respan(p, output_span);
    let respond = quote_spanned! {output_span=>
        #p_output::HandlerOutput::respond(__tars_output, __tars_ctx, __tars_message, __tars_request_id.as_deref()).await
    };
    let extracts: Vec<TokenStream> = spec.args.iter().map(|arg| extract(p, spec, arg)).collect();
    let names = spec.args.iter().map(|a| &a.name);
    let body = quote_spanned! {fn_ident.span()=>
        async move {
            // Named before the arguments are bound: one may share its name.
            let __tars_handler_fn = #fn_ident;
            #[allow(unused_variables)]
            let __tars_request_id: ::core::option::Option<::std::string::String> = ::core::option::Option::None;
            #(#extracts)*
            let __tars_output = __tars_handler_fn(#(#names),*).await;
            #respond
        }
    };
    let reply = match &function.sig.output {
        ReturnType::Type(_, ty) => {
            let p = respan(p, ty.span());
            quote_spanned!(ty.span()=> <#ty as #p::HandlerOutput>::REPLY)
        }
        ReturnType::Default => quote!(::core::option::Option::None),
    };
    HandlerImpl {
        item: handler_item(
            p,
            function,
            quote!(Handler),
            quote!(__tars_message: &'a #p::Message),
            quote!(HandlerResult),
            body,
        ),
        install: quote! {
            builder.subscribe_handler_with(
                &registration.subscription(),
                registration.qos,
                ::core::clone::Clone::clone(&registration.options),
                __TarsHandler,
            )
        },
        reply,
        batch: quote!(::core::option::Option::None),
    }
}

/// `impl Handler` (or `BatchHandler`) for `__TarsHandler`: `call(&self, input, ctx)`
/// running `body`, whose future yields `output`, and `name`.
pub(super) fn handler_item(
    p: &TokenStream,
    function: &ItemFn,
    handler_trait: TokenStream,
    input: TokenStream,
    output: TokenStream,
    body: TokenStream,
) -> TokenStream {
    let fn_ident = &function.sig.ident;
    let fn_name = fn_ident.to_string();
    // The `Send` the handler's future must be is required by a return type and a body
    // spanned on the fn's name: a future that is not `Send` (an `Rc` held across an
    // `.await`) is reported once, at the user's fn, with the `.await` in question.
    let p_fn = respan(p, fn_ident.span());
    let returns = quote_spanned! {fn_ident.span()=>
        impl #p_fn::Future<Output = #p_fn::#output> + ::core::marker::Send + 'a
    };
    quote! {
        impl #p::#handler_trait for __TarsHandler {
            fn call<'a>(
                &'a self,
                #input,
                __tars_ctx: &'a #p::Context,
            ) -> #returns {
                #body
            }

            fn name(&self) -> ::core::option::Option<&'static str> {
                ::core::option::Option::Some(#fn_name)
            }
        }
    }
}

/// What differs between a handler and a batch handler in the expansion.
pub(super) struct HandlerImpl {
    /// The `impl Handler` (or `BatchHandler`) for `__TarsHandler`.
    pub(super) item: TokenStream,
    /// The expression that adds it to `builder` for `registration`.
    pub(super) install: TokenStream,
    /// The registration's `reply`.
    pub(super) reply: TokenStream,
    /// The registration's `batch`.
    pub(super) batch: TokenStream,
}

/// The handler's whole expansion around `handler` (a handler's or a batch handler's
/// impl and installation): the user's fn, the argument checks, the topic check and the
/// registration.
pub(super) fn expand(function: &ItemFn, spec: &HandlerSpec, handler: HandlerImpl) -> TokenStream {
    let p = &spec.krate.private();
    let fn_name = function.sig.ident.to_string();
    let checks: Vec<TokenStream> = spec.args.iter().map(|arg| check(p, arg)).collect();
    let topic_check = topic_matches_event(p, spec, function);
    let (topic, filter, segments) = topic(p, spec);
    let qos = qos_path(p, spec.qos);
    let share = option(spec.share.as_ref());
    let options = options(p, spec);
    // The payload's event type: for `ev: Event`, and for `Envelope<Event>` when the
    // topic comes from the event (with a written topic, `T` may be any type).
    let from_event = matches!(spec.topic, TopicSource::FromEvent);
    let typed = spec
        .payload()
        .map(Arg::item)
        .filter(|a| matches!(a.kind, ArgKind::Event) || (from_event && a.typed_event().is_some()));
    let event_type = option(typed.map(|payload| event_const(p, payload, "EVENT_TYPE")));
    let states = spec.args.iter().filter_map(|a| match &a.kind {
        ArgKind::State(state) => Some(quote! {
            #p::StateNeed {
                type_id: ::core::any::TypeId::of::<#state>,
                type_name: ::core::stringify!(#state),
            }
        }),
        _ => None,
    });
    let markers = spec
        .args
        .iter()
        .filter(|a| a.typed_event().is_some())
        .map(|a| &a.name);
    let HandlerImpl {
        item,
        install,
        reply,
        batch,
    } = handler;
    quote! {
        #function

        const _: () = {
            #[allow(unused_imports)]
            use #p::NotAnEvent as _;

            #[allow(non_camel_case_types, dead_code)]
            mod __tars_args {
                #(pub struct #markers;)*
            }

            #[allow(dead_code, clippy::let_unit_value)]
            fn __tars_checks() {
                #(#checks)*
            }
            #topic_check

            struct __TarsHandler;

            #item

            fn __tars_install(
                builder: #p::ClientBuilder,
                registration: &'static #p::HandlerRegistration,
            ) -> #p::ClientBuilder {
                #install
            }

            #p::inventory::submit! {
                #p::HandlerRegistration {
                    name: #fn_name,
                    module: ::core::module_path!(),
                    topic: #topic,
                    filter: #filter,
                    segments: #segments,
                    qos: #qos,
                    share: #share,
                    options: #options,
                    batch: #batch,
                    event_type: #event_type,
                    reply: #reply,
                    states: &[#(#states),*],
                    install: __tars_install,
                }
            }
        };
    }
}
