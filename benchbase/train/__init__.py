"""The rank side: one process per device trains, evaluates and writes its part of the record."""
