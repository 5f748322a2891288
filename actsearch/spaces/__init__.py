"""Search spaces: activation families x placement x training hyperparameters, as Optuna suggestions.

Example:
    >>> import optuna
    >>> from actsearch.spaces import SearchSpace
    >>> space = SearchSpace.from_dict(
    ...     {"families": {"relu": {}, "silu": {}}, "placement": "per_stage"}, stages=["stage1", "stage2"]
    ... )
    >>> sorted(space.parameters())
    ['stage1.family', 'stage2.family']
    >>> space.decode({"stage1.family": "relu", "stage2.family": "silu"}).families()
    ['relu', 'silu']
"""

from actsearch.spaces.baseline import Baseline
from actsearch.spaces.errors import SearchSpaceError
from actsearch.spaces.families import FamilySpace
from actsearch.spaces.labels import config_labels, spec_label
from actsearch.spaces.params import Categorical, Fixed, FloatRange, IntRange, Parameter, parse_parameter
from actsearch.spaces.placement import GLOBAL_SLOT, Placement, Slot, slot_name
from actsearch.spaces.space import SearchSpace, TrialConfig
from actsearch.spaces.training import TrainingSpace

__all__ = [
    "GLOBAL_SLOT",
    "Baseline",
    "Categorical",
    "FamilySpace",
    "Fixed",
    "FloatRange",
    "IntRange",
    "Parameter",
    "Placement",
    "SearchSpace",
    "SearchSpaceError",
    "Slot",
    "TrainingSpace",
    "TrialConfig",
    "config_labels",
    "parse_parameter",
    "slot_name",
    "spec_label",
]
