"""`make demo`: the fraud-detection story played on the embedded sandbox with real components."""
