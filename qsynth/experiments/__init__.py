"""Experiments: run a config over strategies × seeds, aggregate, write tables and plots; box tasks."""

from qsynth.experiments.box_task import BoxTask, box_dataset, box_task
from qsynth.experiments.finished import FinishedRun, TrainedModel, load_run
from qsynth.experiments.runner import ExperimentResult, load_histories, plot_run, print_table, run_experiment
from qsynth.experiments.summary import accuracy_at, format_table, labels_to_reach, summarize

__all__ = ["BoxTask", "ExperimentResult", "FinishedRun", "TrainedModel", "accuracy_at", "box_dataset", "box_task",
           "format_table", "labels_to_reach", "load_histories", "load_run", "plot_run", "print_table", "run_experiment",
           "summarize"]
