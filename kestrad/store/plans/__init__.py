"""The store's domain logic, written once: one plan (a generator of statements, see
store/statements.py) per operation, grouped by role. Connectors run them; SQLStore
(store/sql_store.py) exposes them as the Store protocol."""
