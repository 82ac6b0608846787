"""ddp_bert."""
