"""Commands: the one route by which the API, the CLI and tasks act on executions and
triggers. Each command is checked against the transition rules (runtime/transitions.py),
encoded, and published in the database, where whichever executor owns the execution
carries it out. One module per subject: `executions`, `triggers`.
"""
