"""A deliberately broken plugin package for tests."""
