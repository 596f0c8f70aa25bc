"""framebench: the framework-neutral harness. Never imports a deep-learning framework."""

__version__ = "0.1.0"
