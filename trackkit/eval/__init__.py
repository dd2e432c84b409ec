"""Exact benchmark scoring: protocols that reproduce each toolkit, result files, confidence
intervals, figures and labelled speed numbers."""
from trackkit.eval.api import EvalResult, evaluate, evaluate_all_protocols
from trackkit.eval.protocols import PROTOCOLS, get_protocol
from trackkit.eval.results import (ResultSet, SequenceResult, read_got10k_results, read_pytracking_results,
                                   read_results, write_got10k_results, write_pytracking_results)

__all__ = ["EvalResult", "evaluate", "evaluate_all_protocols", "PROTOCOLS", "get_protocol", "ResultSet",
           "SequenceResult", "read_got10k_results", "read_pytracking_results", "read_results",
           "write_got10k_results", "write_pytracking_results"]
