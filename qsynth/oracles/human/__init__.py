"""A person as the oracle: a local labeling page (`LabelingServer`) or the terminal
(`TerminalLabeler`), both over one `HumanSession`. Imports no JAX."""

from qsynth.oracles.human.session import HumanSession, NotOpen
from qsynth.oracles.human.terminal import StopLabeling, TerminalLabeler
from qsynth.oracles.human.web import LabelingServer

__all__ = ["HumanSession", "LabelingServer", "NotOpen", "StopLabeling", "TerminalLabeler"]
