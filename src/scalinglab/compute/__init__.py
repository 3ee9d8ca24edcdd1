"""FLOPs and money: units, hardware, prices, compute-optimal allocation (no torch here)."""

from scalinglab.compute.allocation import (
    cheapest_for_loss,
    compute_optimal,
    compute_optimal_for_params,
    inference_aware_optimum,
)
from scalinglab.compute.cost import ComputeBill, CostModel, Currency
from scalinglab.compute.hardware import GPU, GPUS, get_gpu
from scalinglab.compute.planner import Plan, plan_for_budget, plan_for_loss
from scalinglab.compute.uncertain_law import UncertainLaw
from scalinglab.compute.units import PF_DAY_FLOPS

__all__ = ["GPU", "GPUS", "PF_DAY_FLOPS", "ComputeBill", "CostModel", "Currency", "Plan",
           "UncertainLaw", "cheapest_for_loss", "compute_optimal", "compute_optimal_for_params",
           "get_gpu", "inference_aware_optimum", "plan_for_budget", "plan_for_loss"]
