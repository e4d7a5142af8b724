"""wheelwatch: finds Python caches in GitHub Actions that survive a pre-release ABI change."""

__version__ = "0.1.0"
