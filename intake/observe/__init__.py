"""What operators watch: Prometheus metrics recorded where things happen, and structured logs."""
