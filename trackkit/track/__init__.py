"""Online tracking: batched crops, the one-stream tracker, batched tracking, baselines and
result writing."""
from trackkit.track.baselines import BASELINES, GroundTruthTracker, InitBoxTracker
from trackkit.track.batched import SequenceResult, track_batched
from trackkit.track.config import TrackConfig
from trackkit.track.runner import RunSummary, run_tracker, track_sequence, write_result
from trackkit.track.tracker import OneStreamTracker, Tracker, from_preset, hann1d, hann2d

__all__ = [
    "BASELINES", "GroundTruthTracker", "InitBoxTracker", "OneStreamTracker", "RunSummary", "SequenceResult",
    "TrackConfig", "Tracker", "from_preset", "hann1d", "hann2d", "run_tracker", "track_batched",
    "track_sequence", "write_result",
]
