"""Node-role checks: each reads the host through --host-root and never calls a cluster API
beyond one GET of its own Node."""
