"""Draws -> :class:`Fit`: InferenceData, summaries (vectorised R-hat/ESS), predictions and
saved fits (NumPy; ArviZ only when InferenceData is asked for, no JAX at import)."""

from hbr.posterior.draws import Draws
from hbr.posterior.fit import Fit, ParameterizationChoice
from hbr.posterior.load import load_fit
from hbr.posterior.predictive import summarize_predictions

__all__ = ["Fit", "Draws", "ParameterizationChoice", "load_fit", "summarize_predictions"]
