"""MIS access: one driver per database engine, one profile per MIS, and the sync engine.

A profile (profiles/<name>.toml) is data: the SQL for each canonical entity and how its
columns and statuses map. A driver (drivers/<engine>.py) knows how to open a read-only
connection to one engine. `registry.open_connector(config)` puts the two together.
"""
