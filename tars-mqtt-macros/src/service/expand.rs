//! The generated `main`: the body becomes an inner async fn run by
//! `tars::__private::run_service` once the service is connected and subscribed.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

use super::validate::ServiceSpec;

pub(crate) fn expand(function: &ItemFn, spec: &ServiceSpec) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let ident = &sig.ident;
    let inputs = &sig.inputs;
    let output = &sig.output;
    let name = match &spec.name {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    let worker_threads = match spec.worker_threads {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let (call, context_check) = match &spec.context {
        Some(ty) => (
            quote!(__tars_service_body(__tars_ctx)),
            quote_spanned! {ty.span()=>
                let _: ::core::marker::PhantomData<#ty> = ::core::marker::PhantomData::<::tars::__private::Context>;
            },
        ),
        None => (quote!(__tars_service_body()), TokenStream::new()),
    };
    // Errors about the return type land on it.
    let span = match output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => proc_macro2::Span::call_site(),
    };
    let run = quote_spanned! {span=>
        ::tars::__private::run_service(
            ::tars::__private::ServiceSpec {
                name: #name,
                version: ::core::env!("CARGO_PKG_VERSION"),
                worker_threads: #worker_threads,
            },
            |__tars_ctx: ::tars::__private::Context| #call,
        )
    };
    quote! {
        #(#attrs)*
        #vis fn #ident() -> ::tars::__private::ExitCode {
            #[allow(dead_code, clippy::let_unit_value)]
            fn __tars_checks() {
                #context_check
            }
            async fn __tars_service_body(#inputs) #output #block
            #run
        }
    }
}
