"""Load Calico v3 keys (one ``{"key": ..., "value": ...}`` JSON object per line, as in
``cluster.jsonl``) into etcd, through the same client pybgp uses (``pip install pybgp[etcd]``).

    python3 examples/calico-etcd/load.py --endpoint http://127.0.0.1:2379 cluster.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path


async def load(endpoint: str, path: Path) -> int:
    import aetcd

    host, _, port = endpoint.removeprefix("http://").partition(":")
    count = 0
    async with aetcd.Client(host, int(port or 2379)) as client:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            await client.put(item["key"].encode(), json.dumps(item["value"]).encode())
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description="load Calico keys into etcd")
    parser.add_argument("file", type=Path)
    parser.add_argument("--endpoint", default="http://127.0.0.1:2379")
    args = parser.parse_args()
    print(f"{asyncio.run(load(args.endpoint, args.file))} keys written to {args.endpoint}")


if __name__ == "__main__":
    main()
