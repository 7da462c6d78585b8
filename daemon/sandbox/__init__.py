"""The simulated Ozon Seller API behind `ozon-sync demo`, `ozon-sync sandbox`, tests, benchmarks.

A standard-library HTTP/1.1 server on 127.0.0.1 serving the FBS methods ozon-sync uses, from a
scenario of postings whose deadlines are relative to the start, with scheduled changes and
fault knobs. Start it in a thread (`Sandbox`), in the foreground (`run_forever`), or as its own
process (`SandboxProcess`, `python -m daemon.sandbox`).

Module map (each imports only modules before it): clock, model, index, knobs, body -> blocks ->
wire -> store -> lifecycle -> events -> scenario -> paging -> methods -> app -> tenants -> admin
-> server -> runner -> command; process (stdlib only). The package imports only the standard
library and msgspec; nothing outside `daemon/sandbox`, so the daemon's layers never leak into
the simulation.
"""

from daemon.sandbox.app import Call, SandboxOptions
from daemon.sandbox.knobs import KNOB_HELP, Knobs
from daemon.sandbox.process import SandboxProcess
from daemon.sandbox.runner import Sandbox, config_snippet, run_forever

__all__ = [
    "KNOB_HELP",
    "Call",
    "Knobs",
    "Sandbox",
    "SandboxOptions",
    "SandboxProcess",
    "config_snippet",
    "run_forever",
]
