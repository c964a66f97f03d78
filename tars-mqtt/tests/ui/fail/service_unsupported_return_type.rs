#[tars::service]
async fn main() -> u32 {
    0
}
