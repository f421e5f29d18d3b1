"""SI helpers. Inside specsize every quantity is SI: bytes, seconds, FLOP/s. GB = 1e9; GiB only when labelled."""

KB = 1e3
MB = 1e6
GB = 1e9
TB = 1e12
KiB = 1024
MiB = 1024**2
GiB = 1024**3


def human_count(n: float) -> str:
    """1_234_567_890 -> '1.23B'."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    """Decimal units: 688_586_727_753 -> '688.59 GB'."""
    for div, suffix in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}"
    return f"{n:.0f} B"
