"""ddp_core."""
