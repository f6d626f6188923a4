"""IVR: declarative call flows, their validation and the per-call flow runner; ID&V."""
