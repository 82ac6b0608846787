"""ddp_vision."""
