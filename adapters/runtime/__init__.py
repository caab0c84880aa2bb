"""What the running program needs from its surroundings: settings, the store's URL,
secrets and the clock."""
