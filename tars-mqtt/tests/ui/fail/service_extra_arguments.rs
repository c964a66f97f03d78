#[tars::service]
async fn main(ctx: tars::Context, retries: u32) {
    let _ = (ctx, retries);
}
