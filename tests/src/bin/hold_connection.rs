//! Connects a tars client configured from the environment, prints `connected`, and
//! holds the connection until killed (used to check that the last will fires).

#[tokio::main]
async fn main() {
    let config = tars::Config::from_env().expect("configuration");
    let _client = tars::Client::connect(config).await.expect("connect");
    println!("connected");
    std::future::pending::<()>().await;
}
