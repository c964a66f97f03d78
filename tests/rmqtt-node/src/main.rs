//! One node of a broadcast rmqtt cluster on loopback, for the cluster tests of
//! tars-mqtt (`tests/src/cluster.rs` starts three and kills them).
//!
//! Usage: `tars-rmqtt-node ID MQTT_PORT GRPC_PORT PEERS`, where PEERS lists every
//! node's gRPC address as `id@127.0.0.1:port`, comma-separated (this one included).
//! It serves MQTT 3.1.1 and 5 on 127.0.0.1:MQTT_PORT with anonymous access, shared
//! subscriptions, and retained messages kept in memory; prints `READY` once listening.

use std::net::SocketAddr;

use rmqtt::context::ServerContext;
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;

fn usage() -> ! {
    eprintln!("usage: tars-rmqtt-node ID MQTT_PORT GRPC_PORT PEERS (id@127.0.0.1:port,...)");
    std::process::exit(2);
}

#[tokio::main]
async fn main() -> rmqtt::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [id, mqtt_port, grpc_port, peers] = args.as_slice() else {
        usage()
    };
    let id: u64 = id.parse().unwrap_or_else(|_| usage());
    let mqtt_port: u16 = mqtt_port.parse().unwrap_or_else(|_| usage());
    let grpc_port: u16 = grpc_port.parse().unwrap_or_else(|_| usage());
    let peers: Vec<String> = peers.split(',').map(|p| format!("{p:?}")).collect();

    // gRPC calls to a dead node (kicking a session that moved, routing) give up after
    // 2 s instead of rmqtt's default 60 s, so that clients failing over from it are
    // served at once.
    let cluster = format!(
        "message_type = 98\nnode_grpc_addrs = [{}]\nnode_grpc_client_timeout = \"2s\"\n",
        peers.join(", ")
    );
    let scx = ServerContext::new()
        .node_id(id)
        .plugins_config_map_add("rmqtt-cluster-broadcast", cluster)
        .plugins_config_map_add("rmqtt-retainer", "storage.type = \"ram\"\n")
        .plugins_config_map_add("rmqtt-shared-subscription", "strategy = \"round_robin\"\n")
        .build()
        .await;
    let grpc: SocketAddr = ([127, 0, 0, 1], grpc_port).into();
    scx.node.start_grpc_server(scx.clone(), grpc, true, false);
    rmqtt_retainer::register(&scx, true, false).await?;
    rmqtt_shared_subscription::register(&scx, true, false).await?;
    rmqtt_cluster_broadcast::register(&scx, true, false).await?;

    let listener = Builder::new()
        .name("external/tcp")
        .laddr(([127, 0, 0, 1], mqtt_port).into())
        .allow_anonymous(true)
        // A node killed by a test starts again on its port at once, beside the
        // connections its death left closing.
        .reuseaddr(Some(true))
        .max_inflight(std::num::NonZeroU16::new(16).expect("not zero"))
        // rmqtt drops what a session queues beyond 1,000 messages by default: a share
        // group member behind by more would lose jobs. Bounded, but far above any test.
        .max_mqueue_len(1_000_000)
        .bind()?
        .tcp()?;
    println!("READY");
    MqttServer::new(scx)
        .listener(listener)
        .build()
        .run()
        .await?;
    Ok(())
}
