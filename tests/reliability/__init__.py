"""The reliability suite (issue 14): faults injected on purpose, and the promises checked
exactly afterwards."""
