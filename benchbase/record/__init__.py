"""The run record: the one vocabulary (schema), and the only code that reads and writes record files."""
