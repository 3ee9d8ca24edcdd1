"""Physical and unit constants shared by every layer (no dependencies)."""

#: 1 PF-day = 1e15 FLOP/s sustained for 86,400 s = 8.64e19 FLOPs (Kaplan et al. 2020, Sec. 1.2).
PF_DAY_FLOPS: float = 1e15 * 86400.0
