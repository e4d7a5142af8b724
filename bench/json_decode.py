"""The full decode of a delivery: orjson (what ``bot.app.decoding`` uses) against msgspec.

    python bench/json_decode.py [--batches 40] [--calls 200] [--body PATH]

Decodes one webhook body (by default ../shared/fixtures/webhooks/pull_request.opened.2.json,
28 kB) with ``orjson.loads`` and with msgspec's untyped ``msgspec.json.Decoder().decode``, in
one process, batches of each interleaved so both see the same load; the cyclic GC is off
while timing. Prints the min and the median of the batches in µs of process CPU per decode.
Both must build the same objects first, else it says so and stops. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import orjson

WEBHOOKS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "webhooks"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--body", type=Path, default=WEBHOOKS / "pull_request.opened.2.json")
    args = parser.parse_args()
    body = args.body.read_bytes()
    decoders: dict[str, Callable[[bytes], object]] = {
        "orjson.loads": orjson.loads,
        "msgspec.json.Decoder().decode": msgspec.json.Decoder().decode,
    }
    if len({repr(decode(body)) for decode in decoders.values()}) != 1:
        sys.exit("the two decoders build different objects from this body")
    cpu: dict[str, list[float]] = {name: [] for name in decoders}
    gc.disable()
    for _ in range(args.batches):
        for name, decode in decoders.items():
            start = time.process_time()
            for _ in range(args.calls):
                decode(body)
            cpu[name].append((time.process_time() - start) / args.calls * 1e6)
            gc.collect()
    print(f"{args.body.name} ({len(body)} bytes), {args.batches} batches x {args.calls} decodes")
    for name, times in cpu.items():
        print(f"{name:30} min {min(times):6.1f} µs  median {statistics.median(times):6.1f} µs")


if __name__ == "__main__":
    main()
