//! Connects a tars client configured from the environment, prints `connected`, and
//! holds the connection until killed (used to check the last will, and what a client
//! logs while it cannot connect). Logs go to stderr (`RUST_LOG`).

#[tokio::main]
async fn main() {
    tars_tests::init_stderr_logging();
    let config = tars::Config::from_env().expect("configuration");
    let _client = tars::Client::connect(config).await.expect("connect");
    println!("connected");
    std::future::pending::<()>().await;
}
