"""Commands: the one route by which the API, the CLI and tasks act on executions and
triggers. Execution commands are checked against the transition rules
(runtime/transitions.py), encoded and published in the database, where whichever executor
owns the execution carries them out; trigger commands go through the running scheduler
when it knows the trigger, else change the stored row. One module per subject:
`executions`, `triggers`.
"""
