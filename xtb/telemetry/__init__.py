"""Telemetry: Prometheus metrics, trading stats, SQLite records, the event journal."""
