"""Real servers for the integration tests, started and stopped by the suite itself."""
