"""scalinglab: know what a training run will buy before you pay for it."""

__version__ = "0.1.0"
