"""A stand-in for a user's simulator binary: JSON query on stdin, JSON answer on stdout.

x[0] selects the behaviour: 0 answers {"label", "value"}, 1 exits with status 2, 2 prints
something that is not JSON, 3 sleeps past any timeout, 4 says "abstain", 5 prints progress
lines and then a bare label. With EXTERNAL_SIM_RULE=sum it labels 1 iff x0 + x1 > 0.5.
"""

import json
import os
import sys
import time

query = json.load(sys.stdin)
x = query["x"]
if os.environ.get("EXTERNAL_SIM_RULE") == "sum":  # a plain rule for whole runs: 1 iff x0 + x1 > 0.5
    print(int(x[0] + x[1] > 0.5))
    sys.exit(0)
mode = int(x[0])
if mode == 1:
    print("solver diverged", file=sys.stderr)
    sys.exit(2)
if mode == 2:
    print("hello")
elif mode == 3:
    time.sleep(60)
elif mode == 4:
    print(json.dumps({"status": "abstain", "error": "mesh too coarse"}))
elif mode == 5:
    print("step 1/2")
    print("step 2/2")
    print(int(x[1] > 0))
else:
    print(json.dumps({"label": int(x[1] > 0), "value": x[1]}))
