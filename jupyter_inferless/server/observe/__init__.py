"""What the server shows about itself: Prometheus metrics."""
