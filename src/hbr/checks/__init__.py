"""What a fit is worth: diagnostics with advice, PSIS-LOO (streamed), model comparison with
leave-one-group-out, MAP versus posterior mean, and simulation-based calibration."""

from hbr.checks.compare import Comparison, compare
from hbr.checks.diagnostics import Diagnostics, diagnose

__all__ = ["Comparison", "compare", "Diagnostics", "diagnose"]
