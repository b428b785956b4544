"""Experiments: run a config over strategies × seeds, aggregate, write tables and plots."""

from qsynth.experiments.runner import ExperimentResult, load_histories, plot_run, print_table, run_experiment
from qsynth.experiments.summary import accuracy_at, format_table, labels_to_reach, summarize

__all__ = ["ExperimentResult", "accuracy_at", "format_table", "labels_to_reach", "load_histories", "plot_run",
           "print_table", "run_experiment", "summarize"]
