"""Commands on executions and triggers: each validated and applied in one place."""
