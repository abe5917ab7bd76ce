"""Writing a run record in other tools' formats."""
