"""dataval_core: the data-valuation engine behind the dataval dashboard (no UI imports)."""
from .dataset import DataError, Dataset
from .io import load_dataset
from .problem import Problem
from .progress import Cancelled, Progress, Reporter
from .registry import get_spec, get_valuator, list_valuators
from .result import ValuationResult

__all__ = ["Cancelled", "DataError", "Dataset", "Problem", "Progress", "Reporter", "ValuationResult",
           "get_spec", "get_valuator", "list_valuators", "load_dataset"]
