"""trackkit: components of five visual object trackers, exact benchmark scoring, and
papermill studies that reproduce the papers' ablations."""

__version__ = "0.1.0"
