"""Helpers shared by the test suites (not tests themselves; pytest collects nothing here).

- :mod:`.procs`: the repository path, free loopback ports, the environment for
  child Pythons, and reading a child's "READY <url>" line with a timeout
- :mod:`.support`: waiting for conditions, colour checks on frames, recording events
- :mod:`.relsupport`: the reliability suite's runtime processes and fault helpers
- :mod:`.tracks_support`: the named-track and audio scenario helpers
- :mod:`.peers`: starting the published reactor-runtime peers for interop
"""
