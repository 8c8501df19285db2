"""Simulated Models Backend for llmlb's tests, demos and benchmarks.

Run it with ``python -m tests.sim_backend.server --help`` from the repository root
(see README.md beside this file). Tests import ``answers.answer_for`` to check that a stored
answer belongs to its task, and ``harness.running_backend`` to start a backend process.
"""
