//! `tars services`: the fleet as a table (or JSON), once or watched.

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::bus::Broker;
use crate::fleet::{Fleet, ServiceView, FLEET_FILTERS};
use crate::Failure;

/// How often `--watch` redraws when nothing changes (heartbeat ages move).
const REDRAW_EVERY: Duration = Duration::from_secs(1);
/// How long `--watch` lets the retained state arrive before its first drawing.
const FIRST_DRAWING_AFTER: Duration = Duration::from_millis(300);

pub async fn run(broker: &Broker, json: bool, watch: bool, wait: Duration) -> Result<(), Failure> {
    if !watch {
        let fleet = crate::fleet::collect(broker, wait).await?;
        print(&fleet.views(Instant::now()), json);
        return Ok(());
    }
    let (client, mut received) = broker.subscribe(&FLEET_FILTERS).await?;
    let mut fleet = Fleet::default();
    // The first drawing once the retained state has come in.
    let first = tokio::time::Instant::now() + FIRST_DRAWING_AFTER;
    let mut redraw = tokio::time::interval_at(first, REDRAW_EVERY);
    loop {
        tokio::select! {
            message = received.recv() => match message {
                Some(message) => {
                    fleet.apply(message.topic(), message.payload(), Instant::now());
                    continue; // draw once the burst of retained messages is in
                }
                None => break,
            },
            _ = redraw.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if !json {
            print!("\x1b[2J\x1b[H"); // clear the terminal, cursor home
        }
        print(&fleet.views(Instant::now()), json);
    }
    let _ = client.disconnect().await;
    Ok(())
}

fn print(views: &[ServiceView], json: bool) {
    if json {
        println!("{}", serde_json::to_string(views).unwrap_or_default());
    } else {
        print!("{}", table(views));
    }
}

/// The human table.
pub fn table(views: &[ServiceView]) -> String {
    let mut out = String::new();
    if views.is_empty() {
        out.push_str(
            "no services found (nothing retained on system/health/+ or system/services/+)\n",
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{:<28} {:<10} {:<12} {:>9} {:<10} {:>8}  ERR",
        "CLIENT ID", "STATUS", "EVENT", "HEARTBEAT", "VERSION", "HANDLERS"
    );
    for view in views {
        let heartbeat = view
            .heartbeat_age_s
            .map_or_else(|| "-".to_owned(), |age| format!("{age:.1}s ago"));
        let handlers = view
            .handlers
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:<12} {:>9} {:<10} {:>8}  {}",
            view.client_id,
            view.status.as_str(),
            view.event.as_deref().unwrap_or("-"),
            heartbeat,
            view.version.as_deref().unwrap_or("-"),
            handlers,
            view.err.as_deref().unwrap_or("")
        );
    }
    out
}
