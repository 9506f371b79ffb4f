"""Kubernetes resource quantities: parse, multiply, cap and print (for adjustResources)."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from mlaiops.api.common import QUANTITY_PATTERN

_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_SPLIT = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse(quantity: str | int | float) -> Decimal:
    """The quantity's value in base units (cores, bytes)."""
    text = str(quantity).strip()
    if not re.fullmatch(QUANTITY_PATTERN, text):
        raise ValueError(f"invalid quantity {quantity!r}")
    number, suffix = _SPLIT.match(text).groups()  # type: ignore[union-attr]
    if suffix not in _SUFFIXES:
        raise ValueError(f"invalid quantity suffix in {quantity!r}")
    return Decimal(number) * _SUFFIXES[suffix]


def format_cpu(cores: Decimal) -> str:
    """Whole millicores, rounded up (``1500m``; ``2`` for whole cores)."""
    millis = math.ceil(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_memory(size: Decimal) -> str:
    """Whole mebibytes, rounded up (``768Mi``; ``2Gi`` when exact)."""
    mebibytes = math.ceil(size / 2**20)
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def raised(current: str | int, factor: float, cap: str | int | None, resource: str) -> str:
    """``current`` multiplied by ``factor``, never above ``cap``, printed the Kubernetes way."""
    value = parse(current) * Decimal(str(factor))
    if cap is not None:
        value = min(value, parse(cap))
    return format_cpu(value) if resource == "cpu" else format_memory(value)
