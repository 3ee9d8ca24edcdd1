"""FLOPs and money: units, hardware, prices, compute-optimal allocation (no torch here)."""
