"""The gateway service: the platform's single HTTP entry and the keeper of request state."""
