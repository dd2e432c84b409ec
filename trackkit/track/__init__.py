"""Online tracking: the generic model tracker (a family supplies its policy), batched tracking,
the one-stream policy, baselines and result writing."""
from trackkit.track.baselines import BASELINES, GroundTruthTracker, InitBoxTracker
from trackkit.track.batched import TrackedSequence, track_batched
from trackkit.track.onestream import OneStreamTracking
from trackkit.track.runner import RunSummary, run_tracker, track_sequence, write_result
from trackkit.track.tracker import ModelTracker, State, Step, Tracker, TrackingPolicy, cat_states, index_state

__all__ = [
    "BASELINES", "GroundTruthTracker", "InitBoxTracker", "ModelTracker", "OneStreamTracking", "RunSummary",
    "State", "Step", "TrackedSequence", "Tracker", "TrackingPolicy", "cat_states", "index_state", "run_tracker",
    "track_batched", "track_sequence", "write_result",
]
