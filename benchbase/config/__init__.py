"""Configuration: the core keys (parameters), safe YAML reading (safe_yaml), value coercion (coerce) and the
layers that resolve a run's values (resolve)."""
