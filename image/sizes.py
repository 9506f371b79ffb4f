"""The size of an image and its three largest layers, from `podman history --format json` on stdin.

Usage: podman history --format json TAG | python3 image/sizes.py TAG BASE BASE_BYTES
"""

import json
import sys


def mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def main() -> None:
    tag, base, base_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    layers = json.load(sys.stdin)
    total = sum(layer["size"] for layer in layers)
    print(f"{tag}: {mib(total)} ({mib(total - base_bytes)} above the base {base})")
    print("largest layers:")
    for layer in sorted(layers, key=lambda layer: -layer["size"])[:3]:
        created = " ".join(layer["CreatedBy"].split())
        print(f"  {mib(layer['size']):>8}  {created[:100]}")


if __name__ == "__main__":
    main()
