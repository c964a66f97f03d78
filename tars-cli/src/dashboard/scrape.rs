//! Reading a service's handled-message count from its metrics endpoint
//! (`TARS_METRICS_ADDR`, named in its manifest), for the dashboard's rates.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of a metrics page read.
const MAX_PAGE: u64 = 4 * 1024 * 1024;
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(1);

/// The total of `tars_handler_messages_total` (every handler and outcome) at `addr`, or
/// `None` when the endpoint does not answer in time or has no such metric.
pub async fn handled_total(addr: &str) -> Option<f64> {
    let mut addr: SocketAddr = addr.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    let page = tokio::time::timeout(SCRAPE_TIMEOUT, fetch(addr))
        .await
        .ok()??;
    sum_of(&page, "tars_handler_messages_total")
}

async fn fetch(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut page = Vec::new();
    stream.take(MAX_PAGE).read_to_end(&mut page).await.ok()?;
    let page = String::from_utf8(page).ok()?;
    let (head, body) = page.split_once("\r\n\r\n")?;
    // "HTTP/1.0 200 OK" (hyper answers in the request's version) or "HTTP/1.1 200 OK".
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_owned())
}

/// The sum of every sample of `name` in a Prometheus text page.
fn sum_of(page: &str, name: &str) -> Option<f64> {
    let mut found = false;
    let mut total = 0.0;
    for line in page.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue; // another metric whose name starts the same
        }
        if let Some(value) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            total += value;
            found = true;
        }
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_one_metric_are_summed() {
        let page = "# TYPE tars_handler_messages counter\n\
            tars_handler_messages_total{handler=\"a\",outcome=\"ok\"} 5\n\
            tars_handler_messages_total{handler=\"a\",outcome=\"error\"} 2\n\
            tars_handler_messages_totally 100\n\
            tars_published_messages_total 9\n";
        assert_eq!(sum_of(page, "tars_handler_messages_total"), Some(7.0));
        assert_eq!(sum_of(page, "missing"), None);
    }
}
