"""A FastStream service asking a question over MQTT 5 with `broker.request()`, as a
FastStream user would: FastStream names its own response topic and correlation data.

Usage: faststream_requester.py HOST PORT TOPIC SECONDS
Prints one line `ANSWER {...}` (the answer's envelope and the request's id) or
`NO ANSWER` after SECONDS.
"""

import asyncio
import json
import sys
import time
import uuid

from faststream.mqtt import MQTTBroker


async def main() -> int:
    host, port, topic, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    broker = MQTTBroker(
        f"mqtt://{host}:{port}",
        client_id=f"faststream-{uuid.uuid4().hex[:8]}",
        version="5.0",
        log_level=30,
    )
    request_id = uuid.uuid4().hex
    envelope = {
        "id": request_id,
        "type": "question",
        "ts": time.time(),
        "source": "faststream-requester",
        "data": {"text": "fast"},
    }
    await broker.start()
    try:
        answer = await broker.request(json.dumps(envelope), topic, timeout=seconds)
    except TimeoutError:
        print("NO ANSWER", flush=True)
        return 0
    finally:
        await broker.stop()
    print(
        "ANSWER "
        + json.dumps({"payload": json.loads(answer.body), "request_id": request_id}),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
