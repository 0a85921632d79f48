"""The tracker's hot kernels release the GIL, so ``accord warning ingest``'s alert thread runs
Python while the tracker thread is inside one; and ``warm_up`` compiles every one of them."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from numba.core.registry import CPUDispatcher

from accord.warning import prediction
from accord.warning.boost import flight, predict
from accord.warning.frames import MU, lla_to_ecef
from accord.warning.tracking import burnout, filters, history, kernels
from accord.warning.tracking.filters import transition_matrix
from accord.warning.tracking.models import process_noise, transition_axis

# the compiled entry points called from Python, one call doing substantial work
HOT = {
    kernels: ("imm_predict", "gate", "imm_update", "coverage", "_bookkeep",
              "initiation_scan", "store_scan", "duplicates"),
    prediction: ("_ground_arc_kernel", "_ballistic_kernel", "_rise_fit_kernel"),
    flight: ("fly",),
    predict: ("_weigh", "_ground_track"),   # a boost prediction's two (likelihood.log_like and posterior run inside _weigh)
    burnout: ("_plan", "_setup", "_gap_kernel", "_bank_scans"),
    history: ("record_rows",),
    filters: ("_combine",),
}
INNER = {kernels: ("detections_to_ecef", "inv3", "measure", "innovation_inverse", "innovation", "mahalanobis",
                    "gain_update", "joseph_update", "store_candidates")}   # called only from other kernels (the flag acts at the Python call)
REPO = Path(__file__).resolve().parents[2]


def test_hot_kernels_are_compiled_without_the_gil():
    for mod, names in HOT.items():
        for name in names:
            d = getattr(mod, name)
            assert isinstance(d, CPUDispatcher), f"{mod.__name__}.{name} is not a numba kernel"
            assert d.targetoptions.get("nogil") is True, f"{mod.__name__}.{name} holds the GIL"
    # a public kernel of the tracker is an entry point from Python unless listed as inner
    public = {n for n, v in vars(kernels).items() if isinstance(v, CPUDispatcher) and not n.startswith("_")}
    assert public - set(INNER[kernels]) <= set(HOT[kernels]), public - set(INNER[kernels]) - set(HOT[kernels])


def test_warm_up_compiles_every_hot_kernel():
    # in a fresh process: what this test process has already compiled does not count
    names = [f"{m.__name__}:{n}" for m, ns in HOT.items() for n in ns]
    code = ("import importlib, sys\n"
            "from accord.warning.tracking import warm_up\n"
            "warm_up()\n"
            "for s in sys.argv[1:]:\n"
            "    m, n = s.split(':')\n"
            "    if not getattr(importlib.import_module(m), n).signatures:\n"
            "        print(s)\n")
    out = subprocess.run([sys.executable, "-c", code, *names], cwd=REPO, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert out.stdout.split() == [], f"warm_up leaves uncompiled: {out.stdout.split()}"


def test_another_thread_runs_python_while_imm_predict_runs():
    # With a switch interval far longer than the test, a thread holding the GIL keeps it until it
    # blocks or releases it: the main thread (blocked starting the worker) runs again either when
    # the kernel releases the GIL, while the worker is inside it, or when the worker ends.
    n = 40_000
    x = lla_to_ecef(39.5, 130.0, 150e3)
    X = np.zeros((n, 2, 9))
    X[:, :, 0:3] = x
    X[:, :, 3:6] = (2500.0, 300.0, 100.0)
    P = np.broadcast_to(np.eye(9) * 100.0, (n, 2, 9, 9)).copy()
    mu = np.full((n, 2), 0.5)
    dt = 0.5
    args = (transition_matrix(dt, 2000.0, 30.0), transition_axis(dt), process_noise(dt, 0.01, 2.0, 1.0), MU)
    latched = np.zeros(n, bool)
    kernels.imm_predict(X[:1].copy(), P[:1].copy(), mu[:1].copy(), latched[:1], dt, *args)   # compiled
    state = {"inside": False, "done": False}

    def work() -> None:
        state["inside"] = True
        kernels.imm_predict(X, P, mu, latched, dt, *args)
        state["done"] = True

    old = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    try:
        t = threading.Thread(target=work)
        t.start()
        seen = (state["inside"], state["done"])   # the first moment this thread runs again
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert state["done"]
    assert seen == (True, False), "the main thread could not run while imm_predict ran"


def test_a_tracking_run_after_warm_up_compiles_nothing():
    # benches time runs after warm_up: a kernel first compiled (or loaded from the cache) inside
    # the run would be timed with it. In a fresh process, a missile tracked from launch to past
    # its burnout (boost predictions on the fitted flight plane, the burnout bank, the latch)
    # adds no compiled signature to any kernel of accord.warning.
    code = ("import importlib, pkgutil\n"
            "from numba.core.registry import CPUDispatcher\n"
            "import accord.warning as w\n"
            "from accord.warning.tracking import warm_up\n"
            "from accord.warning.pipeline import track_detections\n"
            "from accord.warning.sim import random_scenario, simulate\n"
            "sim = simulate(random_scenario(5, 1, pd=1.0, clutter_per_scan=0.0, duration=200.0))\n"
            "warm_up()\n"
            "mods = [importlib.import_module(m.name) for m in pkgutil.walk_packages(w.__path__, 'accord.warning.')]\n"
            "ds = {f'{m.__name__}.{n}': v for m in mods for n, v in vars(m).items()\n"
            "      if isinstance(v, CPUDispatcher) and v.__module__ == m.__name__}\n"
            "before = {k: len(d.signatures) for k, d in ds.items()}\n"
            "res = track_detections(sim.header.sensors, sim.detections)\n"
            "assert any(p.status == 'boost' for p in res.predictions), 'no boost prediction'\n"
            "print(' '.join(k for k, d in ds.items() if len(d.signatures) > before[k]))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [], f"compiled inside the run, not by warm_up: {out.stdout.split()}"
