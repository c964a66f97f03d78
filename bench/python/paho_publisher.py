"""A burst publisher for `tars-bench processes --publisher paho`: paho-mqtt as the
py-tars services use it (a network thread from loop_start, publish() called from the
main thread). It connects, prints `ready`, waits for `go` on its standard input,
publishes BENCH_COUNT numbered ~150-byte envelopes on BENCH_TOPIC at QoS BENCH_QOS to
127.0.0.1:BENCH_PORT, and prints `published N` once the last one is written (and, at
QoS 1, acknowledged)."""

import json
import os
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt


def envelope(seq):
    data = {"seq": seq, "text": "the quick brown fox jumps over the lazy dog"}
    return json.dumps(
        {
            "id": uuid.uuid4().hex,
            "type": "bench.proc",
            "ts": time.time(),
            "source": "bench-publisher",
            "data": data,
        },
        separators=(",", ":"),
    ).encode()


def main():
    port = int(os.environ["BENCH_PORT"])
    count = int(os.environ["BENCH_COUNT"])
    qos = int(os.environ["BENCH_QOS"])
    topic = os.environ["BENCH_TOPIC"]
    payloads = [envelope(seq) for seq in range(count)]

    done = threading.Event()
    acked = [0]

    def on_publish(client, userdata, mid, reason_code=None, properties=None):
        acked[0] += 1
        if acked[0] == count:
            done.set()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"bench-paho-publisher-{os.getpid()}",
    )
    client.on_publish = on_publish
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    print("ready", flush=True)
    sys.stdin.readline()
    for payload in payloads:
        client.publish(topic, payload, qos=qos)
    if not done.wait(timeout=120):
        print(f"only {acked[0]} of {count} published", flush=True)
        sys.exit(1)
    print(f"published {count}", flush=True)
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
