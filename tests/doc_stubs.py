"""Named stand-ins for the placeholders the docs' examples use (`tests/test_docs.py`).

`my_physics.simulate_grasp` (docs/simulators.md): a grasp holds when the force is at least
twice the width; the slip is how far short it falls.
"""

from __future__ import annotations


def simulate_grasp(width: float, force: float) -> float:
    return max(0.0, 2.0 * float(width) - float(force))
