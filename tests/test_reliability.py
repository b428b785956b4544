"""Three random kills of real runs (SIGKILL and SIGINT), each resumed: nothing lost, nothing asked
twice, the uninterrupted run's final state, no process left over (`tests/reliability.py`, in its
lighter input-synthesis variant; run 50 of the latent-synthesis one by hand with
`python tests/reliability.py --kills 50`)."""

import pytest

from tests import reliability


@pytest.mark.slow
def test_three_random_kills_lose_nothing_and_leave_nothing_running(tmp_path):
    lines = []
    counts = reliability.run(kills=3, seed=20261201, folder=tmp_path, log=lines.append, quick=True)
    assert counts["trials"] == 3
    assert counts["failed"] == 0, "\n".join(lines)
