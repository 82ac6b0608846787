"""ddp_seg."""
