"""No lost work: Ctrl-C (SIGINT) during sampling stops cleanly, keeps the draws done so far,
marks them partial, and they can be saved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import arviz as az

CHILD = r"""
import json, signal, sys, hbr
# Ctrl-C as in a terminal, even when the runner was started with SIGINT ignored (a
# background job of a non-interactive shell), which a child would otherwise inherit
signal.signal(signal.SIGINT, signal.default_int_handler)
radon = hbr.load_dataset("radon")
mn = radon[radon.state == "MN"]
said = []
def progress(done, total, phase):
    if phase == "sampling" and not said:
        said.append(done)
        print("SAMPLING", done, flush=True)
fit = hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=3, tune=200, draws=200_000,
              chains=2, parameterization="noncentered", log_likelihood=False,
              progress=progress)
path = fit.to_netcdf(sys.argv[1])
print("RESULT" + json.dumps({"interrupted": fit.interrupted,
                             "draws": int(fit.posterior.sizes["draw"]),
                             "seen": said[0],
                             "advice": list(fit.diagnostics().advice)}), flush=True)
"""


def test_ctrl_c_keeps_the_draws_done_so_far(tmp_path: Path) -> None:
    out = tmp_path / "partial.nc"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until sampling (not warm-up) has produced draws
        if line.startswith("SAMPLING"):
            break
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(next(ln for ln in rest.splitlines() if ln.startswith("RESULT"))[6:])
    assert result["interrupted"] is True
    # some draws were kept, far fewer than asked for, and at least those already reported
    assert result["seen"] - 200 <= result["draws"] < 200_000
    assert "sampling was interrupted after" in err  # the user is told, not only the attrs
    assert any(a.startswith("sampling was interrupted") for a in result["advice"])
    back = az.from_netcdf(out)
    assert back.posterior.attrs["interrupted"] == 1
    assert back.posterior.sizes["draw"] == result["draws"]
    assert back.posterior["sigma"].notnull().all()
