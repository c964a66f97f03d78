//! The generated `main`: the body becomes an inner async fn run by
//! `tars::__private::run_service` once the service is connected and subscribed.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

use super::parse::ServiceSpec;
use crate::tokens::{option, respan};

pub(crate) fn expand(function: &ItemFn, spec: &ServiceSpec) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let p = spec.krate.private();
    let ident = &sig.ident;
    let inputs = &sig.inputs;
    let output = &sig.output;
    let name = option(spec.name.as_ref());
    let worker_threads = option(spec.worker_threads);
    let millis =
        |ms: Option<u64>| option(ms.map(|ms| quote!(::core::time::Duration::from_millis(#ms))));
    let drain_timeout = millis(spec.drain_timeout_ms);
    let request_timeout = millis(spec.request_timeout_ms);
    let queue = option(spec.queue);
    let (empty_body, allow_empty) = (spec.empty_body, spec.allow_empty);
    // Built once per service instance, before the handlers start.
    let state = option(spec.state.as_ref().map(|build| {
        let p_state = respan(&p, build.span());
        quote_spanned! {build.span()=>
            (|__tars_builder: #p_state::ClientBuilder| __tars_builder.state(#build()))
                as fn(#p_state::ClientBuilder) -> #p_state::ClientBuilder
        }
    }));
    // Referencing a library crate links it, and with it its handlers' registrations.
    let links = spec.handlers.iter().map(|path| {
        let absolute = path.leading_colon.is_none().then(|| quote!(::));
        quote! {
            #[allow(unused_imports)]
            use #absolute #path as _;
        }
    });
    let (call, context_check) = match &spec.context {
        Some(ty) => {
            let p = respan(&p, ty.span());
            (
                quote!(__tars_service_body(__tars_ctx)),
                quote_spanned! {ty.span()=>
                    let _: ::core::marker::PhantomData<#ty> = ::core::marker::PhantomData::<#p::Context>;
                },
            )
        }
        None => (quote!(__tars_service_body()), TokenStream::new()),
    };
    // Errors about the return type land on it.
    let span = match output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => proc_macro2::Span::call_site(),
    };
    let p_run = respan(&p, span);
    let run = quote_spanned! {span=>
        #p_run::run_service(
            #p_run::ServiceSpec {
                name: #name,
                version: ::core::env!("CARGO_PKG_VERSION"),
                worker_threads: #worker_threads,
                drain_timeout: #drain_timeout,
                request_timeout: #request_timeout,
                queue: #queue,
                empty_body: #empty_body,
                allow_empty: #allow_empty,
                state: #state,
            },
            |__tars_ctx: #p_run::Context| #call,
        )
    };
    quote! {
        #(#attrs)*
        #vis fn #ident() -> #p::ExitCode {
            #[allow(dead_code, clippy::let_unit_value)]
            fn __tars_checks() {
                #context_check
            }
            #(#links)*
            async fn __tars_service_body(#inputs) #output #block
            #run
        }
    }
}
