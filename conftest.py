"""Test-run settings shared by every area.

Hypothesis profiles: ``dev`` (the default) draws fresh random examples on every run, so local
runs keep exploring; ``ci`` (``.ci/run`` sets ``HYPOTHESIS_PROFILE=ci``) is derandomized, so a
CI result depends on the code alone and never on a lucky or unlucky draw. ``soak``
(``scripts/property-soak.sh``) draws fresh random examples round after round and prints a
reproduction blob on failure. A failure found locally is fixed and, where it was subtle, kept
as an explicit test.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev")
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("soak", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
