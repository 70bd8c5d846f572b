"""Parameter studies: declarative sweeps (TOML), resumable runs, results tables."""

from fem_assb.studies.cases import Case, build_structure, expand
from fem_assb.studies.config import BUILTIN_STUDIES, StudyConfig, load_config
from fem_assb.studies.runner import read_table, run_study

__all__ = ["BUILTIN_STUDIES", "Case", "StudyConfig", "build_structure", "expand",
           "load_config", "read_table", "run_study"]
