//! A service body that takes the context and returns a result.
use tars::prelude::*;

#[tars::service(name = "tars-producer")]
async fn service(ctx: Context) -> tars::Result<()> {
    ctx.publish_health(true, Some("warming-up"), None).await
}

// trybuild runs pass cases: keep the generated service (which would connect) uncalled.
fn main() {
    let _ = service;
}
